package sim

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Glance's list paging defaults (limit_param_default, api_limit_max).
const (
	glanceLimitDefault = 25
	glanceLimitMax     = 1000
)

// glanceSortKeys are the keys GET /v2/images may sort by.
var glanceSortKeys = []string{"name", "status", "container_format", "disk_format", "size", "id",
	"created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram"}

var glanceStatuses = []string{"queued", "saving", "active", "killed", "deleted", "pending_delete",
	"deactivated", "uploading", "importing"}

// glanceQueryParam is one query parameter in request order (Glance echoes the request's
// parameters in the first/next links in their order).
type glanceQueryParam struct{ key, value string }

func glanceParseQuery(raw string) ([]glanceQueryParam, error) {
	var out []glanceQueryParam
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		uk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out = append(out, glanceQueryParam{uk, uv})
	}
	return out, nil
}

func glanceEncodeQuery(ps []glanceQueryParam) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, url.QueryEscape(p.key)+"="+url.QueryEscape(p.value))
	}
	return strings.Join(parts, "&")
}

// glanceSortKey is one sort criterion.
type glanceSortKey struct {
	key  string
	desc bool
}

// glanceListQuery is a parsed GET /v2/images request.
type glanceListQuery struct {
	limit   int
	marker  string
	sort    []glanceSortKey
	filters []func(*Image) bool
}

// glanceListImages lists images (references 21, 26, 27, 29).
func (s *Sim) glanceListImages(w http.ResponseWriter, r *http.Request) {
	params, err := glanceParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, svcImage, http.StatusBadRequest, "Malformed query string.")
		return
	}
	q, gerr := glanceParseListQuery(params)
	if gerr != nil {
		s.writeError(w, svcImage, gerr.status, gerr.msg)
		return
	}

	s.mu.Lock()
	var all []*Image
	for _, id := range slices.Sorted(maps.Keys(s.st.images)) {
		if img := s.imageLocked(id); img != nil {
			all = append(all, img)
		}
	}
	less := q.compare
	slices.SortStableFunc(all, less)
	var marker *Image
	if q.marker != "" {
		if marker = s.imageLocked(q.marker); marker == nil {
			s.mu.Unlock()
			s.writeError(w, svcImage, http.StatusBadRequest, "Invalid marker. Image "+q.marker+" could not be found.")
			return
		}
	}
	var page []*kvObject
	var lastID string
	for _, img := range all {
		if marker != nil && less(marker, img) >= 0 {
			continue // at or before the marker
		}
		if !q.match(img) {
			continue
		}
		if len(page) == q.limit {
			break
		}
		page = append(page, glanceImageJSON(img))
		lastID = img.ID
	}
	s.mu.Unlock()

	var rest []glanceQueryParam
	for _, p := range params {
		if p.key != "marker" {
			rest = append(rest, p)
		}
	}
	body := newKV()
	if page == nil {
		page = []*kvObject{}
	}
	body.set("images", page)
	first := "/v2/images"
	if len(rest) > 0 {
		first += "?" + glanceEncodeQuery(rest)
	}
	body.set("first", first).set("schema", "/v2/schemas/images")
	// Glance offers a next page whenever the page is full, even if nothing follows.
	if len(page) > 0 && len(page) == q.limit {
		next := append(slices.Clone(rest), glanceQueryParam{"marker", lastID})
		body.set("next", "/v2/images?"+glanceEncodeQuery(next))
	}
	writeJSON(w, http.StatusOK, body)
}

func (q *glanceListQuery) match(img *Image) bool {
	for _, f := range q.filters {
		if !f(img) {
			return false
		}
	}
	return true
}

// compare orders images by the sort keys, then created_at and id in the first key's
// direction, as Glance's paginated query does.
func (q *glanceListQuery) compare(a, b *Image) int {
	keys := q.sort
	tieDesc := keys[0].desc
	keys = append(slices.Clone(keys), glanceSortKey{"created_at", tieDesc}, glanceSortKey{"id", tieDesc})
	for _, k := range keys {
		c := glanceCompareOn(k.key, a, b)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func glanceCompareOn(key string, a, b *Image) int {
	switch key {
	case "name":
		return cmp.Compare(a.Name, b.Name)
	case "status":
		return cmp.Compare(a.Status, b.Status)
	case "container_format":
		return cmp.Compare(a.ContainerFormat, b.ContainerFormat)
	case "disk_format":
		return cmp.Compare(a.DiskFormat, b.DiskFormat)
	case "size":
		return cmp.Compare(a.Size, b.Size)
	case "id":
		return cmp.Compare(a.ID, b.ID)
	case "created_at":
		return a.Created.Compare(b.Created)
	case "updated_at":
		return a.Updated.Compare(b.Updated)
	case "visibility":
		return cmp.Compare(a.Visibility, b.Visibility)
	case "owner":
		return cmp.Compare(a.Owner, b.Owner)
	case "min_disk":
		return cmp.Compare(a.MinDisk, b.MinDisk)
	case "min_ram":
		return cmp.Compare(a.MinRAM, b.MinRAM)
	}
	return 0
}

// glanceParseListQuery turns the query parameters into paging, sorting and filters with
// Glance's validation messages.
func glanceParseListQuery(params []glanceQueryParam) (*glanceListQuery, *glanceErr) {
	bad := func(format string, args ...any) *glanceErr {
		return &glanceErr{http.StatusBadRequest, fmt.Sprintf(format, args...)}
	}
	q := &glanceListQuery{limit: glanceLimitDefault}
	var sortParam []string
	var sortKeys, sortDirs []string
	visibility := ""
	hidden := "false"
	for _, p := range params {
		k, v := p.key, p.value
		switch k {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, bad("limit param must be an integer")
			}
			if n < 0 {
				return nil, bad("limit param must be positive")
			}
			q.limit = min(n, glanceLimitMax)
		case "marker":
			q.marker = v
		case "sort":
			sortParam = append(sortParam, v)
		case "sort_key":
			sortKeys = append(sortKeys, v)
		case "sort_dir":
			sortDirs = append(sortDirs, v)
		case "member_status":
			if !slices.Contains([]string{"pending", "accepted", "rejected", "all"}, v) {
				return nil, bad("Invalid status value: %s", v)
			}
		case "visibility":
			if !slices.Contains([]string{"community", "public", "private", "shared", "all"}, v) {
				return nil, bad("Invalid visibility value: %s", v)
			}
			visibility = v
		case "os_hidden":
			b, ok := glanceParseBool(v)
			if !ok {
				return nil, bad("Invalid value '%s' for parameter 'os_hidden': Expected boolean value, got '%s'", v, v)
			}
			hidden = strconv.FormatBool(b)
		case "protected":
			b, ok := glanceParseBool(v)
			if !ok {
				return nil, bad("Invalid value '%s' for parameter 'protected': Expected boolean value, got '%s'", v, v)
			}
			q.filters = append(q.filters, func(img *Image) bool { return img.Protected == b })
		case "tag":
			tag := v
			q.filters = append(q.filters, func(img *Image) bool { return slices.Contains(img.Tags, tag) })
		case "size_min", "size_max":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, bad("Value of %s must be an integer greater than or equal to 0", k)
			}
			isMin := k == "size_min"
			q.filters = append(q.filters, func(img *Image) bool {
				if !glanceHasData(img) {
					return false
				}
				if isMin {
					return img.Size >= n
				}
				return img.Size <= n
			})
		case "created_at", "updated_at":
			f, gerr := glanceTimeFilter(k, v)
			if gerr != nil {
				return nil, gerr
			}
			q.filters = append(q.filters, f)
		case "name", "status", "id", "container_format", "disk_format", "owner", "checksum":
			values := []string{v}
			if rest, ok := strings.CutPrefix(v, "in:"); ok && k != "owner" && k != "checksum" {
				values = glanceSplitIn(rest)
			}
			if k == "status" {
				for _, st := range values {
					if !slices.Contains(glanceStatuses, st) {
						return nil, bad("Invalid status value: %s", st)
					}
				}
			}
			attr := k
			q.filters = append(q.filters, func(img *Image) bool {
				return slices.Contains(values, glanceAttrString(img, attr))
			})
		default:
			// Any other key filters on a custom property (reference 29).
			key, want := k, v
			q.filters = append(q.filters, func(img *Image) bool {
				got, ok := img.Properties[key]
				return ok && got == want
			})
		}
	}
	switch visibility {
	case "all":
	case "":
		// Without a visibility filter Glance lists everything but community images.
		q.filters = append(q.filters, func(img *Image) bool { return img.Visibility != "community" })
	default:
		vis := visibility
		q.filters = append(q.filters, func(img *Image) bool { return img.Visibility == vis })
	}
	// os_hidden=true lists only hidden images; by default they are left out (refs 26, 27).
	wantHidden := hidden == "true"
	q.filters = append(q.filters, func(img *Image) bool { return img.Hidden == wantHidden })

	sortSpec, gerr := glanceParseSort(sortParam, sortKeys, sortDirs)
	if gerr != nil {
		return nil, gerr
	}
	q.sort = sortSpec
	return q, nil
}

// glanceParseSort reads sort=key:dir,… or the legacy sort_key/sort_dir pairs.
func glanceParseSort(sortParam, sortKeys, sortDirs []string) ([]glanceSortKey, *glanceErr) {
	bad := func(format string, args ...any) *glanceErr {
		return &glanceErr{http.StatusBadRequest, fmt.Sprintf(format, args...)}
	}
	checkKey := func(k string) *glanceErr {
		if !slices.Contains(glanceSortKeys, k) {
			return bad("Invalid sort key: %s. It must be one of the following: %s.", k, strings.Join(glanceSortKeys, ", "))
		}
		return nil
	}
	checkDir := func(d string) *glanceErr {
		if d != "asc" && d != "desc" {
			return bad("Invalid sort direction: %s", d)
		}
		return nil
	}
	var out []glanceSortKey
	switch {
	case len(sortParam) > 0 && (len(sortKeys) > 0 || len(sortDirs) > 0):
		return nil, bad("The parameters sort_key/sort_dir and sort are not allowed together.")
	case len(sortParam) > 0:
		for _, sp := range sortParam {
			for _, item := range strings.Split(sp, ",") {
				k, d, hasDir := strings.Cut(strings.TrimSpace(item), ":")
				if !hasDir {
					d = "desc"
				}
				if gerr := checkKey(k); gerr != nil {
					return nil, gerr
				}
				if gerr := checkDir(d); gerr != nil {
					return nil, gerr
				}
				out = append(out, glanceSortKey{k, d == "desc"})
			}
		}
	case len(sortKeys) > 0 || len(sortDirs) > 0:
		if len(sortDirs) > 1 && len(sortDirs) != len(sortKeys) {
			return nil, bad("Number of sort dirs does not match the number of sort keys")
		}
		if len(sortKeys) == 0 {
			sortKeys = []string{"created_at"}
		}
		for i, k := range sortKeys {
			d := "desc"
			switch {
			case len(sortDirs) == 1:
				d = sortDirs[0]
			case i < len(sortDirs):
				d = sortDirs[i]
			}
			if gerr := checkKey(k); gerr != nil {
				return nil, gerr
			}
			if gerr := checkDir(d); gerr != nil {
				return nil, gerr
			}
			out = append(out, glanceSortKey{k, d == "desc"})
		}
	default:
		out = []glanceSortKey{{"created_at", true}}
	}
	return out, nil
}

// glanceTimeFilter parses "gt:2026-01-01T00:00:00Z" style filters (operators gt, gte, lt,
// lte, eq, neq; eq when none is given).
func glanceTimeFilter(key, v string) (func(*Image) bool, *glanceErr) {
	op, ts, ok := strings.Cut(v, ":")
	if !ok || !slices.Contains([]string{"gt", "gte", "lt", "lte", "eq", "neq"}, op) {
		op, ts = "eq", v
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return nil, &glanceErr{http.StatusBadRequest, "Unable to filter on a range with a non-numeric value."}
	}
	return func(img *Image) bool {
		at := img.Created
		if key == "updated_at" {
			at = img.Updated
		}
		at = at.Truncate(time.Second)
		c := at.Compare(t)
		switch op {
		case "gt":
			return c > 0
		case "gte":
			return c >= 0
		case "lt":
			return c < 0
		case "lte":
			return c <= 0
		case "neq":
			return c != 0
		}
		return c == 0
	}, nil
}

// glanceSplitIn splits the value of an "in:" filter: comma-separated, double quotes
// around values that contain commas.
func glanceSplitIn(v string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

func glanceAttrString(img *Image, attr string) string {
	switch attr {
	case "name":
		return img.Name
	case "status":
		return img.Status
	case "id":
		return img.ID
	case "container_format":
		return img.ContainerFormat
	case "disk_format":
		return img.DiskFormat
	case "owner":
		return img.Owner
	case "checksum":
		return img.Checksum
	}
	return ""
}

// glanceParseBool accepts the spellings oslo's strutils.bool_from_string(strict=True) does.
func glanceParseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}
