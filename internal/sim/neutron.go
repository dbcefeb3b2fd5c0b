package sim

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Neutron v2.0 lives under /network, as in devstack: /network/ is the version document and
// the API is /network/v2.0/…. The resource handlers are in neutron_*.go; this file holds
// the routes and what they share: body decoding, list filtering/sorting/paging/fields,
// If-Match revision constraints and the per-simulator state Neutron needs beyond state.go.

func (s *Sim) routesNeutron() {
	s.handlePublic("GET /network", "network.versions", s.neutronVersions)
	s.handlePublic("GET /network/{$}", "network.versions", s.neutronVersions)
	s.handle("GET /network/v2.0", "network.versions", s.neutronResources)
	s.handle("GET /network/v2.0/{$}", "network.versions", s.neutronResources)
	s.handle("GET /network/v2.0/extensions", "network.extension.list", s.neutronExtensions)

	s.handle("GET /network/v2.0/networks", "network.network.list", s.neutronListNetworks)
	s.handle("POST /network/v2.0/networks", "network.network.create", s.neutronCreateNetwork)
	s.handle("GET /network/v2.0/networks/{id}", "network.network.get", s.neutronGetNetwork)
	s.handle("DELETE /network/v2.0/networks/{id}", "network.network.delete", s.neutronDeleteNetwork)

	s.handle("GET /network/v2.0/subnets", "network.subnet.list", s.neutronListSubnets)
	s.handle("POST /network/v2.0/subnets", "network.subnet.create", s.neutronCreateSubnet)
	s.handle("GET /network/v2.0/subnets/{id}", "network.subnet.get", s.neutronGetSubnet)
	s.handle("DELETE /network/v2.0/subnets/{id}", "network.subnet.delete", s.neutronDeleteSubnet)

	s.handle("GET /network/v2.0/ports", "network.port.list", s.neutronListPorts)
	s.handle("POST /network/v2.0/ports", "network.port.create", s.neutronCreatePort)
	s.handle("GET /network/v2.0/ports/{id}", "network.port.get", s.neutronGetPort)
	s.handle("PUT /network/v2.0/ports/{id}", "network.port.update", s.neutronUpdatePort)
	s.handle("DELETE /network/v2.0/ports/{id}", "network.port.delete", s.neutronDeletePort)

	s.handle("GET /network/v2.0/floatingips", "network.floatingip.list", s.neutronListFIPs)
	s.handle("POST /network/v2.0/floatingips", "network.floatingip.create", s.neutronCreateFIP)
	s.handle("GET /network/v2.0/floatingips/{id}", "network.floatingip.get", s.neutronGetFIP)
	s.handle("PUT /network/v2.0/floatingips/{id}", "network.floatingip.update", s.neutronUpdateFIP)
	s.handle("DELETE /network/v2.0/floatingips/{id}", "network.floatingip.delete", s.neutronDeleteFIP)

	s.handle("GET /network/v2.0/routers", "network.router.list", s.neutronListRouters)
	s.handle("GET /network/v2.0/routers/{id}", "network.router.get", s.neutronGetRouter)
	s.handle("GET /network/v2.0/security-groups", "network.securitygroup.list", s.neutronListSecurityGroups)
	s.handle("GET /network/v2.0/security-groups/{id}", "network.securitygroup.get", s.neutronGetSecurityGroup)
}

// neutronSide is what Neutron needs per simulator beyond the shared state: a lock that
// keeps floating-IP retargets in the order the API applied them, and the creation time of
// the default security group.
type neutronSide struct {
	// fipOrder is taken before s.mu by every handler that changes a floating IP's target
	// and held until the driver has applied the change, so two concurrent moves of one
	// address reach the driver in the order their state changes were made.
	fipOrder  sync.Mutex
	sgCreated time.Time
}

// neutron returns Neutron's per-simulator side state.
func (s *Sim) neutron() *neutronSide { return &s.nside }

// neutronErr is a refused request: status, Neutron error type and message.
type neutronErr struct {
	status int
	typ    string
	msg    string
}

func (e *neutronErr) write(w http.ResponseWriter) { writeNeutronError(w, e.status, e.typ, e.msg) }

func neutronBadRequest(msg string) *neutronErr {
	return &neutronErr{http.StatusBadRequest, "HTTPBadRequest", msg}
}

func neutronNotFound(typ, msg string) *neutronErr {
	return &neutronErr{http.StatusNotFound, typ, msg}
}

// applyFIPChanges makes the driver follow floating-IP retargets, in order. Call it after
// releasing s.mu. The work is not cancelled with the request: once the API state changed,
// the data plane must follow it.
func (s *Sim) applyFIPChanges(ctx context.Context, changes []fipChange) error {
	ctx = context.WithoutCancel(ctx)
	for _, c := range changes {
		if err := s.driver.SetFloatingIP(ctx, c.FloatingIP, c.FixedIP); err != nil {
			s.log.Error("driver failed to retarget floating IP", "floating_ip", c.FloatingIP, "fixed_ip", c.FixedIP, "err", err)
			return fmt.Errorf("point floating IP %s at %q: %w", c.FloatingIP, c.FixedIP, err)
		}
	}
	return nil
}

// neutronDriverFailed answers a request whose state change was made but whose driver work
// failed; repeating the request repeats the driver work.
func neutronDriverFailed(w http.ResponseWriter) {
	writeNeutronError(w, http.StatusInternalServerError, "HTTPInternalServerError",
		"Request Failed: internal server error while processing your request.")
}

// neutronDecode reads {"<resource>": {...}} and checks its attributes against allowed.
func neutronDecode(r *http.Request, resource string, allowed ...string) (map[string]json.RawMessage, *neutronErr) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return nil, neutronBadRequest("Malformed request body")
	}
	inner, ok := body[resource]
	if !ok {
		return nil, neutronBadRequest("Unable to find '" + resource + "' in request body")
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(inner, &attrs); err != nil || attrs == nil {
		return nil, neutronBadRequest("Malformed request body")
	}
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, neutronBadRequest("Unrecognized attribute(s) '" + strings.Join(unknown, ", ") + "'")
	}
	return attrs, nil
}

// neutronString decodes attribute k of attrs as a string; null and absence give "".
func neutronString(attrs map[string]json.RawMessage, k string) (string, *neutronErr) {
	raw, ok := attrs[k]
	if !ok {
		return "", nil
	}
	var v *string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", neutronBadRequest(fmt.Sprintf("Invalid input for %s. Reason: '%s' is not a valid string.", k, raw))
	}
	if v == nil {
		return "", nil
	}
	return *v, nil
}

func neutronBool(attrs map[string]json.RawMessage, k string, def bool) (bool, *neutronErr) {
	raw, ok := attrs[k]
	if !ok {
		return def, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		var sv string
		if json.Unmarshal(raw, &sv) == nil {
			if b, ok := glanceParseBool(sv); ok {
				return b, nil
			}
		}
		return false, neutronBadRequest(fmt.Sprintf("Invalid input for %s. Reason: '%s' cannot be converted to boolean.", k, raw))
	}
	return v, nil
}

// neutronIfMatch checks an "If-Match: revision_number=N" constraint against the current
// revision (412 RevisionNumberConstraintFailed when stale, as in reference 44).
func neutronIfMatch(r *http.Request, current int) *neutronErr {
	h := r.Header.Get("If-Match")
	if h == "" {
		return nil
	}
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		v, ok := strings.CutPrefix(part, "revision_number=")
		if !ok {
			continue // other entity tags are not revision constraints
		}
		want, err := strconv.Atoi(v)
		if err != nil {
			return neutronBadRequest("If-Match header revision_number must be an integer, got '" + v + "'")
		}
		if want != current {
			return &neutronErr{http.StatusPreconditionFailed, "RevisionNumberConstraintFailed",
				fmt.Sprintf("Constrained to %d, but current revision is %d", want, current)}
		}
	}
	return nil
}

// neutronListParams are the query keys that are not attribute filters.
var neutronListParams = map[string]bool{"fields": true, "limit": true, "marker": true,
	"sort_key": true, "sort_dir": true, "page_reverse": true,
	"tags": true, "tags-any": true, "not-tags": true, "not-tags-any": true}

// neutronList answers a collection GET: objs are the rendered resources in their default
// order; the query filters (any attribute, repeated keys OR-ed), sorts (sort_key/sort_dir),
// pages (limit/marker with a "<collection>_links" next link) and selects fields.
func (s *Sim) neutronList(w http.ResponseWriter, r *http.Request, collection string, objs []*kvObject, notFound func(id string) *neutronErr) {
	q := r.URL.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if neutronListParams[k] {
			continue
		}
		if !neutronFilterable(objs, k) {
			neutronBadRequest("['" + k + "'] is invalid attribute for filtering").write(w)
			return
		}
		var kept []*kvObject
		for _, o := range objs {
			if neutronMatch(o, k, q[k]) {
				kept = append(kept, o)
			}
		}
		objs = kept
	}
	objs = neutronFilterTags(objs, q)

	sortKeys, sortDirs := q["sort_key"], q["sort_dir"]
	if len(sortDirs) > 0 && len(sortDirs) != len(sortKeys) {
		neutronBadRequest("The number of sort_keys and sort_dirs must be same").write(w)
		return
	}
	for _, d := range sortDirs {
		if d != "asc" && d != "desc" {
			neutronBadRequest(fmt.Sprintf("%s is invalid value for sort_dirs, valid value is 'asc' and 'desc'", d)).write(w)
			return
		}
	}
	if len(sortKeys) > 0 {
		slices.SortStableFunc(objs, func(a, b *kvObject) int {
			for i, k := range sortKeys {
				c := neutronCompare(a.vals[k], b.vals[k])
				if len(sortDirs) > i && sortDirs[i] == "desc" {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}

	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			neutronBadRequest("Limit must be an integer 0 or greater and not '" + v + "'").write(w)
			return
		}
		limit = n
	}
	if m := q.Get("marker"); m != "" {
		at := slices.IndexFunc(objs, func(o *kvObject) bool { return o.vals["id"] == m })
		if at < 0 {
			notFound(m).write(w)
			return
		}
		objs = objs[at+1:]
	}
	page := objs
	if limit > 0 && len(page) > limit {
		page = page[:limit]
	}
	lastID := ""
	if len(page) > 0 {
		lastID = fmt.Sprint(page[len(page)-1].vals["id"])
	}
	if fields := q["fields"]; len(fields) > 0 {
		selected := make([]*kvObject, 0, len(page))
		for _, o := range page {
			selected = append(selected, o.only(fields))
		}
		page = selected
	}
	if page == nil {
		page = []*kvObject{}
	}
	body := newKV().set(collection, page)
	if limit > 0 && len(page) == limit {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("marker", lastID)
		nq.Set("limit", strconv.Itoa(limit))
		body.set(collection+"_links", []any{newKV().
			set("href", s.baseURL+r.URL.Path+"?"+nq.Encode()).
			set("rel", "next")})
	}
	writeJSON(w, http.StatusOK, body)
}

// neutronFilterable reports whether k is an attribute of the listed resources. With no
// resources to look at, every key is accepted.
func neutronFilterable(objs []*kvObject, k string) bool {
	if len(objs) == 0 {
		return true
	}
	for _, o := range objs {
		if _, ok := o.vals[k]; ok {
			return true
		}
	}
	return false
}

// neutronMatch reports whether attribute k of o equals one of the wanted values.
func neutronMatch(o *kvObject, k string, wants []string) bool {
	v := o.vals[k]
	for _, want := range wants {
		switch x := v.(type) {
		case nil:
			if want == "" {
				return true
			}
		case string:
			if x == want {
				return true
			}
		case bool:
			if b, ok := glanceParseBool(want); ok && b == x {
				return true
			}
		case int:
			if strconv.Itoa(x) == want {
				return true
			}
		case []string:
			if slices.Contains(x, want) {
				return true
			}
		case []*kvObject:
			// fixed_ips=ip_address=10.0.0.5 or fixed_ips=subnet_id=…: any entry matching
			// every given key.
			sub, err := url.ParseQuery(want)
			if err != nil {
				continue
			}
			for _, e := range x {
				ok := true
				for sk := range sub {
					if fmt.Sprint(e.vals[sk]) != sub.Get(sk) {
						ok = false
					}
				}
				if ok {
					return true
				}
			}
		default:
			if fmt.Sprint(x) == want {
				return true
			}
		}
	}
	return false
}

// neutronFilterTags applies tags (all of), tags-any, not-tags and not-tags-any, each a
// comma-separated list.
func neutronFilterTags(objs []*kvObject, q url.Values) []*kvObject {
	split := func(k string) []string {
		var out []string
		for _, v := range q[k] {
			out = append(out, strings.Split(v, ",")...)
		}
		return out
	}
	all, anyOf, notAll, notAny := split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
	if all == nil && anyOf == nil && notAll == nil && notAny == nil {
		return objs
	}
	var kept []*kvObject
	for _, o := range objs {
		tags, _ := o.vals["tags"].([]string)
		has := func(t string) bool { return slices.Contains(tags, t) }
		ok := true
		if all != nil && !neutronEveryOf(all, has) {
			ok = false
		}
		if anyOf != nil && !slices.ContainsFunc(anyOf, has) {
			ok = false
		}
		if notAll != nil && neutronEveryOf(notAll, has) {
			ok = false
		}
		if notAny != nil && slices.ContainsFunc(notAny, has) {
			ok = false
		}
		if ok {
			kept = append(kept, o)
		}
	}
	return kept
}

func neutronEveryOf(ts []string, f func(string) bool) bool {
	for _, t := range ts {
		if !f(t) {
			return false
		}
	}
	return true
}

func neutronCompare(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return cmp.Compare(x, y)
	case int:
		y, _ := b.(int)
		return cmp.Compare(x, y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case nil:
		if b == nil {
			return 0
		}
		return -1
	}
	return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// neutronVersions is the version document (reference 37).
func (s *Sim) neutronVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{
		newKV().set("id", "v2.0").set("status", "CURRENT").
			set("links", []any{newKV().set("rel", "self").set("href", s.baseURL+"/network/v2.0/")}),
	}})
}

// neutronResources is GET /v2.0/: the collections the API serves.
func (s *Sim) neutronResources(w http.ResponseWriter, r *http.Request) {
	var res []any
	for _, c := range []struct{ name, coll string }{
		{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"},
		{"floatingip", "floatingips"}, {"router", "routers"}, {"security_group", "security-groups"},
	} {
		res = append(res, newKV().set("name", c.name).set("collection", c.coll).
			set("links", []any{newKV().set("href", s.baseURL+"/network/v2.0/"+c.coll).set("rel", "self")}))
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": res})
}

// neutronExtensions lists the API extensions whose behaviour the simulator implements.
func (s *Sim) neutronExtensions(w http.ResponseWriter, r *http.Request) {
	exts := []struct{ alias, name, desc string }{
		{"external-net", "Neutron external network", "Adds external network attribute to network resource."},
		{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."},
		{"security-group", "security-group", "The security groups extension."},
		{"binding", "Port Binding", "Expose port bindings of a virtual port to external application"},
		{"port-security", "Port Security", "Provides port security"},
		{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."},
		{"revision-if-match", "If-Match constraints based on revision_number", "Extension indicating that If-Match based on revision_number is supported."},
		{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."},
		{"fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"},
		{"filter-validation", "Filter parameters validation", "Provides validation on filter parameters."},
		{"pagination", "Pagination support", "Extension that indicates that pagination is enabled."},
		{"sorting", "Sorting support", "Extension that indicates that sorting is enabled."},
		{"fields", "Fields support", "Extension that indicates that the fields parameter is supported."},
	}
	var out []any
	for _, e := range exts {
		out = append(out, newKV().set("name", e.name).set("alias", e.alias).set("description", e.desc).
			set("updated", "2017-01-01T10:00:00-00:00").set("links", []any{}))
	}
	writeJSON(w, http.StatusOK, map[string]any{"extensions": out})
}

// neutronStableUUID derives a UUID-shaped id from seed, for resources the simulator does not
// store (the default security group and its rules).
func neutronStableUUID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
