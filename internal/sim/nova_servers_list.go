package sim

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Nova server listing: filters, ordering and limit/marker paging.

// novaListServers answers GET /servers and /servers/detail with Nova's filters (name as a
// regular expression, status, image, flavor, ip, changes-since, tags…), newest first,
// paged by limit and marker.
func (s *Sim) novaListServers(detail bool) novaHandler {
	return func(w http.ResponseWriter, r *http.Request, mv microversion) {
		q := r.URL.Query()
		f, bad := parseServerFilters(q, mv)
		if bad != nil {
			s.novaError(w, bad.status, bad.msg)
			return
		}
		s.mu.Lock()
		var all []*Server
		for _, srv := range s.st.servers {
			if f.match(srv, s) {
				all = append(all, srv)
			}
		}
		if !f.changesSince.IsZero() || !f.changesBefore.IsZero() {
			// As Nova: these filters also list recently deleted servers (status DELETED).
			for _, srv := range s.st.deletedServers {
				if f.match(srv, s) {
					all = append(all, srv)
				}
			}
		}
		sort.Slice(all, func(i, j int) bool {
			if !all[i].Created.Equal(all[j].Created) {
				return all[i].Created.After(all[j].Created)
			}
			return all[i].ID > all[j].ID
		})
		page, next, bad := paginate(all, func(srv *Server) string { return srv.ID }, q)
		if bad != nil {
			s.mu.Unlock()
			s.novaError(w, bad.status, bad.msg)
			return
		}
		out := make([]any, 0, len(page))
		for _, srv := range page {
			if detail {
				out = append(out, s.serverViewLocked(srv, mv, false))
			} else {
				out = append(out, map[string]any{"id": srv.ID, "name": srv.Name, "links": s.novaLinks("servers", srv.ID)})
			}
		}
		body := map[string]any{"servers": out}
		if next != "" {
			path := "servers"
			if detail {
				path = "servers/detail"
			}
			body["servers_links"] = []any{map[string]any{"rel": "next", "href": s.nextLink(path, q, next)}}
		}
		// The views are copies: encode them without holding the lock, so that a big
		// listing does not stall every other call of the cloud.
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, body)
	}
}

// nextLink is the servers_links/flavors_links next href: the same query with the marker
// moved on.
func (s *Sim) nextLink(path string, q url.Values, marker string) string {
	nq := url.Values{}
	for k, v := range q {
		nq[k] = slices.Clone(v)
	}
	nq.Set("marker", marker)
	return s.novaURL(path) + "?" + nq.Encode()
}

// paginate applies limit and marker (the id of the last item of the previous page) to an
// ordered list; next is the marker for the following page when this one is full.
func paginate[T any](all []T, idOf func(T) string, q url.Values) (page []T, next string, bad *novaBadRequest) {
	const maxLimit = 1000
	limit := maxLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, "", badReq("%s", invalidInput("limit", v+". Invalid limit"))
		}
		limit = min(n, maxLimit)
	}
	start := 0
	if m := q.Get("marker"); m != "" {
		i := slices.IndexFunc(all, func(t T) bool { return idOf(t) == m })
		if i < 0 {
			return nil, "", badReq("marker [%s] not found", m)
		}
		start = i + 1
	}
	end := min(start+limit, len(all))
	page = all[start:end]
	// As Nova: a full page always carries a next link, even when it happens to be the last.
	if limit > 0 && len(page) == limit {
		next = idOf(page[len(page)-1])
	}
	return page, next, nil
}

type serverFilters struct {
	name                               *regexp.Regexp
	statuses                           []string
	image, flavor                      string
	ip                                 *regexp.Regexp
	changesSince, changesBefore        time.Time
	tags, tagsAny, notTags, notTagsAny []string
}

func parseServerFilters(q url.Values, mv microversion) (*serverFilters, *novaBadRequest) {
	f := &serverFilters{}
	compile := func(expr string) *regexp.Regexp {
		re, err := regexp.Compile(expr)
		if err != nil {
			re = regexp.MustCompile(regexp.QuoteMeta(expr))
		}
		return re
	}
	if v := q.Get("name"); v != "" {
		f.name = compile(v)
	}
	if v := q.Get("ip"); v != "" {
		f.ip = compile(v)
	}
	for _, st := range q["status"] {
		f.statuses = append(f.statuses, strings.ToUpper(st))
	}
	f.image = lastPathSegment(q.Get("image"))
	f.flavor = lastPathSegment(q.Get("flavor"))
	for key, dst := range map[string]*time.Time{"changes-since": &f.changesSince, "changes-before": &f.changesBefore} {
		v := q.Get(key)
		if v == "" {
			continue
		}
		if key == "changes-before" && !mv.atLeast(66) {
			continue
		}
		t, err := parseISO8601(v)
		if err != nil {
			return nil, badReq("%s", invalidInput(key, v+". '"+v+"' is not a 'date-time'"))
		}
		*dst = t
	}
	if mv.atLeast(26) {
		split := func(k string) []string {
			if v := q.Get(k); v != "" {
				return strings.Split(v, ",")
			}
			return nil
		}
		f.tags, f.tagsAny, f.notTags, f.notTagsAny = split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
	}
	return f, nil
}

func (f *serverFilters) match(srv *Server, s *Sim) bool {
	if f.name != nil && !f.name.MatchString(srv.Name) {
		return false
	}
	if len(f.statuses) > 0 && !slices.Contains(f.statuses, srv.Status) {
		return false
	}
	if f.image != "" && srv.ImageID != f.image {
		return false
	}
	if f.flavor != "" && srv.FlavorID != f.flavor {
		return false
	}
	// Nova: changes-since lists servers updated at or after the time, changes-before
	// those updated at or before it.
	if !f.changesSince.IsZero() && srv.Updated.Before(f.changesSince) {
		return false
	}
	if !f.changesBefore.IsZero() && srv.Updated.After(f.changesBefore) {
		return false
	}
	if f.ip != nil {
		found := false
		for _, p := range s.portsOfDeviceLocked(srv.ID) {
			for _, ip := range p.FixedIPs {
				found = found || f.ip.MatchString(ip.IPAddress)
			}
		}
		if !found {
			return false
		}
	}
	has := func(t string) bool { return slices.Contains(srv.Tags, t) }
	all := func(ts []string) bool {
		for _, t := range ts {
			if !has(t) {
				return false
			}
		}
		return true
	}
	if len(f.tags) > 0 && !all(f.tags) {
		return false
	}
	if len(f.tagsAny) > 0 && !slices.ContainsFunc(f.tagsAny, has) {
		return false
	}
	if len(f.notTags) > 0 && all(f.notTags) {
		return false
	}
	if len(f.notTagsAny) > 0 && slices.ContainsFunc(f.notTagsAny, has) {
		return false
	}
	return true
}

// parseISO8601 reads a changes-since/changes-before value as Nova does (oslo's
// parse_isotime): CCYY-MM-DDThh:mm[:ss[.fraction]], then Z, ±hh:mm, ±hhmm or nothing
// (UTC is assumed), e.g. 2011-01-24T17:08Z, 2011-01-24T17:08:00, 2011-01-24T17:08:00.5+01:00.
func parseISO8601(v string) (time.Time, error) {
	for _, layout := range []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04Z07:00", "2006-01-02T15:04Z0700",
	} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date-time", v)
}
