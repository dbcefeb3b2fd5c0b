package manifest

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Patterns for values that end up in apt command lines, image names and URLs. They are
// deliberately strict: anything they let through is safe to pass as one argument.
var (
	// Debian policy 5.6.1: at least two characters, lowercase alphanumerics and + - .,
	// starting with an alphanumeric.
	debName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// Debian policy 5.6.12: [epoch:]upstream[-revision], upstream starting with a digit.
	debVersion    = regexp.MustCompile(`^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$`)
	dnsLabel      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	sha256Hex     = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	weaveVersion  = regexp.MustCompile(`^v?[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	imageVersion  = regexp.MustCompile(`^[0-9]{4}\.(0[1-9]|1[0-2])\.[0-9]+$`)
	maxUserData   = 65535 / 4 * 3 // Nova limits the base64 form to 65535 bytes
	metadataLimit = 255           // Nova: characters per metadata key and value
	metadataItems = 128           // Nova's default metadata_items quota
)

const (
	debVersionWant = `want a Debian version: optional epoch "N:", then a digit, then letters, digits and . + ~ - (e.g. "20.10.24+dfsg1-1+b3")`
	debNameWant    = `want a Debian package name: lowercase letters, digits and + - ., at least 2 characters, starting with a letter or digit`
	labelWant      = `want a DNS label: lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit`
)

// ok reports whether the field at path was written and decoded without a type error, so
// range checks only speak about values that were actually read.
func (d *decoder) ok(path string) bool { return d.written(path) && !d.bad[path] }

// shape reports whether the struct at path may be checked further: absent, empty or a
// mapping. Something else already got a "want a mapping" error; checking its fields
// would only repeat it.
func (d *decoder) shape(path string) bool {
	n := d.values[path]
	return n == nil || isNull(n) || n.Kind == yaml.MappingNode
}

// requireString reports a missing or blank required string.
func (d *decoder) requireString(path, v, want string) {
	switch {
	case !d.written(path):
		if !d.bad[path] {
			d.errorf(path, "missing: want %s", want)
		}
	case strings.TrimSpace(v) == "" && d.ok(path):
		d.errorf(path, "empty: want %s", want)
	}
}

// optionalString reports a written but blank string.
func (d *decoder) optionalString(path, v, want string) {
	if d.ok(path) && strings.TrimSpace(v) == "" {
		d.errorf(path, "empty: want %s, or leave the field out", want)
	}
}

func (d *decoder) enum(path, v string, allowed []string) {
	if d.ok(path) && !slices.Contains(allowed, v) {
		d.errorf(path, "want %s, got %s%s", orList(allowed), quote(v), didYouMean(v, allowed))
	}
}

func (d *decoder) intRange(path string, v, lo, hi int) {
	if !d.ok(path) || (v >= lo && v <= hi) {
		return
	}
	if hi == maxInt {
		d.errorf(path, "want an integer >= %d, got %d", lo, v)
		return
	}
	d.errorf(path, "want an integer from %d to %d, got %d", lo, hi, v)
}

const maxInt = int(^uint(0) >> 1)

func (d *decoder) positiveDuration(path string, v time.Duration) {
	if d.ok(path) && v <= 0 {
		d.errorf(path, "want a duration > 0, got %s", fmtDuration(v))
	}
}

func (d *decoder) nonNegativeDuration(path string, v time.Duration) {
	if d.ok(path) && v < 0 {
		d.errorf(path, "want a duration >= 0, got %s", fmtDuration(v))
	}
}

func orList(s []string) string {
	switch len(s) {
	case 0:
		return "nothing"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// known lists names for "no family "x"; families: a, b" messages.
func known(kind string, names []string) string {
	if len(names) == 0 {
		return "the manifest defines no " + kind
	}
	return kind + ": " + strings.Join(names, ", ")
}

// check validates what the types cannot express: required fields, ranges, enumerations,
// combinations and references between families, groups and schedules.
func (d *decoder) check(m *Manifest) {
	if !d.shape("") {
		return
	}
	if len(m.Families) == 0 && len(m.Groups) == 0 && !d.bad["families"] && !d.bad["groups"] {
		d.errorf("", "defines no families and no groups: want at least one of them")
	}
	if d.ok("state") && strings.Contains(m.State, "://") && !m.StateIsPostgres() {
		d.errorf("state", "want a file path (SQLite) or a postgres:// URL, got %s", quote(m.State))
	}
	d.optionalString("state", m.State, "a file path (SQLite) or a postgres:// URL")
	d.optionalString("cloud", m.Cloud, "an entry of clouds.yaml")
	for _, name := range m.FamilyNames() {
		f := m.Families[name]
		f.Name = name
		d.checkName("families."+name, name)
		if d.shape("families." + name) {
			d.checkFamily("families."+name, f)
		}
	}
	used := map[string]string{} // floating IP address or id → field that claimed it
	for _, name := range m.GroupNames() {
		g := m.Groups[name]
		g.Name = name
		d.checkName("groups."+name, name)
		if d.shape("groups." + name) {
			d.checkGroup(m, "groups."+name, g, used)
		}
	}
	for _, name := range m.ScheduleNames() {
		s := m.Schedules[name]
		s.Name = name
		d.checkName("schedules."+name, name)
		if d.shape("schedules." + name) {
			d.checkSchedule(m, "schedules."+name, s)
		}
	}
}

func (d *decoder) checkName(path, name string) {
	if !dnsLabel.MatchString(name) {
		d.errorAt(d.keys[path], path, "name %s: %s", quote(name), labelWant)
	}
}

func (d *decoder) checkFamily(p string, f *Family) {
	d.requireString(p+".source_image", f.SourceImage, "the Glance image (name or id) builds start from")
	d.requireString(p+".flavor", f.Flavor, "the flavor (name or id) of the builder server")
	d.requireString(p+".network", f.Network, "the network (name or id) of the builder server")
	d.requireString(p+".ssh_user", f.SSHUser, `the login user of the source image (Debian cloud images: "debian")`)
	d.optionalString(p+".key_name", f.KeyName, "a Nova keypair name")
	if d.ok(p + ".release") {
		if _, err := ParseRRule(f.Release); err != nil {
			d.errorf(p+".release", "invalid rrule: %v", err)
		}
	}
	d.intRange(p+".retention", f.Retention, 1, maxInt)
	if f.Health != nil && d.shape(p+".health") {
		d.checkHealth(p+".health", f.Health)
		if f.Health.Cloud != nil {
			d.errorf(p+".health.cloud", "a family's verification boot cannot use the cloud check (its server is already known to be ACTIVE, so it would prove nothing): use http, tcp or command, or leave the family's health out")
		}
	}

	pp := p + ".provision"
	if !d.shape(pp) {
		return
	}
	if d.ok(pp+".docker") && !debVersion.MatchString(f.Provision.Docker) {
		d.errorf(pp+".docker", "%s, got %s", debVersionWant, quote(f.Provision.Docker))
	}
	seen := map[string]string{}
	for i, pkg := range f.Provision.Packages {
		path := fmt.Sprintf("%s.packages[%d]", pp, i)
		if !d.ok(path) {
			if !d.bad[path] {
				d.errorf(path, "empty: want a package name, optionally with =version")
			}
			continue
		}
		name, version, pinned := strings.Cut(pkg, "=")
		switch {
		case !debName.MatchString(name):
			d.errorf(path, "%s; got %s (write name or name=version)", debNameWant, quote(name))
		case pinned && !debVersion.MatchString(version):
			d.errorf(path, "version of %s: %s, got %s", name, debVersionWant, quote(version))
		case seen[name] != "":
			d.errorf(path, "package %s is already listed at %s", name, seen[name])
		default:
			seen[name] = path
		}
	}
	for i, s := range f.Provision.Scripts {
		path := fmt.Sprintf("%s.scripts[%d]", pp, i)
		if !d.bad[path] && strings.TrimSpace(s) == "" {
			d.errorf(path, "empty: want the text of a shell script")
		}
	}
	if w := f.Provision.Weave; w != nil && d.shape(pp+".weave") {
		wp := pp + ".weave"
		d.requireString(wp+".version", w.Version, `the Weave Net version, e.g. "2.8.1"`)
		if d.ok(wp+".version") && !weaveVersion.MatchString(w.Version) {
			d.errorf(wp+".version", `want a version such as "2.8.1", got %s`, quote(w.Version))
		}
		d.requireString(wp+".script_url", w.ScriptURL, "the https:// URL or file:/// path of the weave script")
		if d.ok(wp+".script_url") && !validScriptURL(w.ScriptURL) {
			d.errorf(wp+".script_url", "want an https:// URL or a file:/// path, got %s", quote(w.ScriptURL))
		}
		d.requireString(wp+".sha256", w.SHA256, "the SHA-256 of the weave script, 64 hex digits")
		if d.ok(wp+".sha256") && !sha256Hex.MatchString(w.SHA256) {
			d.errorf(wp+".sha256", "want 64 hex digits (the SHA-256 of the script), got %d characters %s", len(w.SHA256), quote(w.SHA256))
		}
	}
}

func validHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" && u.User == nil
}

func validScriptURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.RawQuery != "" && u.Scheme == "file" {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != "" && u.Hostname() != ""
	case "file":
		return (u.Host == "" || u.Host == "localhost") && strings.HasPrefix(u.Path, "/") && len(u.Path) > 1
	}
	return false
}

func (d *decoder) checkGroup(m *Manifest, p string, g *Group, used map[string]string) {
	if !d.written(p+".count") && !d.bad[p+".count"] {
		d.errorf(p+".count", "missing: want an integer from 1 to 1000")
	}
	d.intRange(p+".count", g.Count, 1, 1000)
	d.checkImage(m, p+".image", g.Image)
	d.requireString(p+".flavor", g.Flavor, "the flavor (name or id) of the servers")
	d.requireString(p+".network", g.Network, "the network (name or id) of the servers")
	d.optionalString(p+".key_name", g.KeyName, "a Nova keypair name")
	d.optionalString(p+".ssh_user", g.SSHUser, "the login user of the servers")
	if g.SSHUser == "" && !d.bad[p+".ssh_user"] && (!g.IsReplaceable() || g.Health.Command != "") {
		why := "is not replaceable (it is patched in place over SSH)"
		if g.IsReplaceable() {
			why = "checks health by a command over SSH"
		}
		if f := m.Families[g.Image.Family]; f == nil || f.SSHUser == "" {
			d.errorf(p+".ssh_user", "missing: the group %s; want the login user of its servers (here, or ssh_user of its image family)", why)
		}
	}
	for i, sg := range g.SecurityGroups {
		path := fmt.Sprintf("%s.security_groups[%d]", p, i)
		switch j := slices.Index(g.SecurityGroups, sg); {
		case d.bad[path]:
		case strings.TrimSpace(sg) == "":
			d.errorf(path, "empty: want a security group name or id")
		case j < i:
			d.errorf(path, "security group %s is already listed at %s.security_groups[%d]", quote(sg), p, j)
		}
	}
	if len(g.UserData) > maxUserData {
		d.errorf(p+".user_data", "%d bytes: want at most %d (Nova accepts 65535 bytes after base64)", len(g.UserData), maxUserData)
	}
	if len(g.Metadata) > metadataItems {
		d.errorf(p+".metadata", "%d items: want at most %d (Nova's default metadata quota)", len(g.Metadata), metadataItems)
	}
	for _, k := range slices.Sorted(maps.Keys(g.Metadata)) {
		path := p + ".metadata." + k
		if k == "" || len(k) > metadataLimit {
			d.errorAt(d.keys[path], path, "key of %d characters: want 1 to %d", len(k), metadataLimit)
		}
		if v := g.Metadata[k]; len(v) > metadataLimit {
			d.errorf(path, "value of %d characters: want at most %d", len(v), metadataLimit)
		}
	}
	if d.shape(p + ".failover") {
		d.checkFailover(p+".failover", g, used)
	}
	if d.shape(p + ".health") {
		d.checkHealth(p+".health", &g.Health)
	}
	if d.shape(p + ".rollout") {
		d.checkRollout(p+".rollout", g)
	}
	if d.shape(p + ".inplace") {
		ip := p + ".inplace"
		d.enum(ip+".reboot", g.InPlace.Reboot, reboots)
		d.intRange(ip+".concurrency", g.InPlace.Concurrency, 1, maxInt)
		d.intRange(ip+".error_budget", g.InPlace.ErrorBudget, 0, maxInt)
	}
}

func (d *decoder) checkImage(m *Manifest, p string, r ImageRef) {
	if !d.shape(p) {
		return
	}
	const want = "want family (its latest active image), family with version, or id"
	fam, ver, id := d.written(p+".family"), d.written(p+".version"), d.written(p+".id")
	switch {
	case !fam && !ver && !id:
		if !d.bad[p+".family"] && !d.bad[p+".version"] && !d.bad[p+".id"] {
			d.errorf(p, "missing: %s", want)
		}
		return
	case id && (fam || ver):
		d.errorf(p+".id", "id pins an image by itself: %s, not id together with family or version", want)
		return
	case ver && !fam:
		d.errorf(p+".version", "version needs family: %s", want)
		return
	}
	d.optionalString(p+".id", r.ID, "a Glance image id")
	if d.ok(p+".version") && !imageVersion.MatchString(r.Version) {
		d.errorf(p+".version", `want a version YYYY.MM.N such as "2024.01.1", got %s`, quote(r.Version))
	}
	if d.ok(p+".family") && m.Families[r.Family] == nil {
		names := m.FamilyNames()
		d.errorf(p+".family", "no family %s%s; %s", quote(r.Family), didYouMean(r.Family, names), known("families", names))
	}
}

func (d *decoder) checkFailover(p string, g *Group, used map[string]string) {
	d.enum(p+".mode", g.Failover.Mode, modes)
	n := len(g.Failover.Addresses)
	for i, a := range g.Failover.Addresses {
		ap := fmt.Sprintf("%s.addresses[%d]", p, i)
		if !d.shape(ap) {
			continue
		}
		var set []string
		for _, k := range []string{"address", "id", "allocate_from"} {
			if d.written(ap + "." + k) {
				set = append(set, k)
			}
		}
		if len(set) != 1 {
			got := "none"
			if len(set) > 1 {
				got = strings.Join(set, " and ")
			}
			d.errorf(ap, "want exactly one of address, id or allocate_from, got %s", got)
			continue
		}
		var claim string
		switch set[0] {
		case "address":
			ip, err := netip.ParseAddr(a.Address)
			if err != nil {
				d.errorf(ap+".address", "want an IP address, got %s", quote(a.Address))
				continue
			}
			claim = "address " + ip.String()
		case "id":
			d.optionalString(ap+".id", a.ID, "a floating IP id")
			claim = "floating IP id " + a.ID
		case "allocate_from":
			d.optionalString(ap+".allocate_from", a.AllocateFrom, "an external network (name or id)")
		}
		if claim != "" {
			if prev, dup := used[claim]; dup {
				d.errorf(ap, "%s is already used by %s", claim, prev)
			} else {
				used[claim] = ap
			}
		}
	}
	if !d.ok(p+".mode") && d.written(p+".mode") {
		return // a bad mode was reported; the address count rules depend on it
	}
	switch g.FailoverMode() {
	case ModeGroup:
		if n != 1 {
			d.errorf(p+".addresses", "mode group: want exactly 1 address (the group's), got %d", n)
		}
		if g.Strategy() == StrategyRolling && !d.bad[p+".mode"] {
			d.errorf(p+".mode", "mode group moves one address for the whole group at once: it needs rollout.strategy bluegreen (rolling needs mode per_server)")
		}
	case ModePerServer:
		single := n == 1 && g.Failover.Addresses[0].AllocateFrom != ""
		if n != 0 && n != g.Count && !single && d.ok(strings.TrimSuffix(p, ".failover")+".count") {
			d.errorf(p+".addresses", "mode per_server: want one address per server (%d), a single allocate_from entry (one allocated per server), or none; got %d", g.Count, n)
		}
	}
}

func (d *decoder) checkHealth(p string, h *HealthCheck) {
	if d.written(p) {
		var kinds []string
		for _, k := range []string{"http", "tcp", "command", "cloud"} {
			if d.values[p+"."+k] != nil {
				kinds = append(kinds, k)
			}
		}
		switch {
		case len(kinds) == 0:
			d.errorf(p, "want exactly one of http, tcp, command or cloud, got none")
		case len(kinds) > 1:
			d.errorf(p+"."+kinds[1], "want exactly one of http, tcp, command or cloud, got %s", strings.Join(kinds, " and "))
		}
	}
	// `cloud:` and `cloud: {}` both select the cloud check (it has no fields).
	if d.values[p+".cloud"] != nil && !d.bad[p+".cloud"] && h.Cloud == nil && d.shape(p+".cloud") {
		h.Cloud = &CloudCheck{}
	}
	d.positiveDuration(p+".interval", h.Interval)
	d.positiveDuration(p+".timeout", h.Timeout)
	d.positiveDuration(p+".deadline", h.Deadline)
	d.nonNegativeDuration(p+".grace_period", h.GracePeriod)
	d.intRange(p+".healthy_threshold", h.HealthyThreshold, 1, maxInt)
	d.intRange(p+".unhealthy_threshold", h.UnhealthyThreshold, 1, maxInt)
	if eff := h.WithDefaults(); eff.Deadline <= eff.GracePeriod && d.ok(p+".grace_period") && !d.bad[p+".deadline"] {
		at := p + ".deadline"
		if !d.written(at) {
			at = p + ".grace_period"
		}
		d.errorf(at, "deadline %s must be longer than grace_period %s (the replacement would time out before it is checked)", fmtDuration(eff.Deadline), fmtDuration(eff.GracePeriod))
	}
	if h.HTTP != nil && d.shape(p+".http") {
		d.intRange(p+".http.port", h.HTTP.Port, 1, 65535)
		if d.ok(p+".http.path") && !strings.HasPrefix(h.HTTP.Path, "/") {
			d.errorf(p+".http.path", "want a path starting with /, got %s", quote(h.HTTP.Path))
		}
		d.intRange(p+".http.status", h.HTTP.Status, 100, 599)
	}
	if h.TCP != nil && d.shape(p+".tcp") {
		if !d.written(p+".tcp.port") && !d.bad[p+".tcp.port"] {
			d.errorf(p+".tcp.port", "missing: want the port to connect to, 1 to 65535")
		}
		d.intRange(p+".tcp.port", h.TCP.Port, 1, 65535)
	}
	if d.values[p+".command"] != nil && !d.bad[p+".command"] && strings.TrimSpace(h.Command) == "" {
		d.errorf(p+".command", "empty: want a command to run over SSH (healthy on exit 0)")
	}
}

func (d *decoder) checkRollout(p string, g *Group) {
	d.enum(p+".strategy", g.Rollout.Strategy, strategies)
	surge, unavail := p+".max_surge", p+".max_unavailable"
	if g.Rollout.MaxSurge != nil {
		d.intRange(surge, *g.Rollout.MaxSurge, 0, maxInt)
	}
	if g.Rollout.MaxUnavailable != nil {
		d.intRange(unavail, *g.Rollout.MaxUnavailable, 0, maxInt)
	}
	d.nonNegativeDuration(p+".soak", g.Rollout.Soak)
	d.nonNegativeDuration(p+".keep_old", g.Rollout.KeepOld)
	d.nonNegativeDuration(p+".bake", g.Rollout.Bake)
	d.enum(p+".rollback_on_failure", g.Rollout.RollbackOnFailure, rollbacks)
	if gate := g.Rollout.Gate; gate != nil && d.shape(p+".gate") {
		gp := p + ".gate.prometheus"
		switch {
		case gate.Prometheus == nil:
			if !d.bad[gp] {
				d.errorf(p+".gate", "missing: want prometheus: {url, query, max}")
			}
		case d.shape(gp):
			pg := gate.Prometheus
			d.requireString(gp+".url", pg.URL, "the Prometheus base URL, http(s)://host:9090")
			if d.ok(gp+".url") && !validHTTPURL(pg.URL) {
				d.errorf(gp+".url", "want an http:// or https:// URL with a host, got %s", quote(pg.URL))
			}
			d.requireString(gp+".query", pg.Query, "a PromQL expression (an instant vector or a scalar)")
			if pg.Max == nil && !d.bad[gp+".max"] {
				d.errorf(gp+".max", "missing: want the highest value the query may return")
			}
		}
	}
	if g.Strategy() == StrategyBlueGreen {
		for _, f := range []string{surge, unavail} {
			if d.written(f) {
				d.errorf(f, "not used by strategy bluegreen (it builds the whole new generation before moving anything); remove it or use strategy rolling")
			}
		}
		return
	}
	if g.MaxSurge() == 0 && g.MaxUnavailable() == 0 && (d.ok(surge) || d.ok(unavail)) && !d.bad[surge] && !d.bad[unavail] {
		at := surge
		if !d.written(surge) {
			at = unavail
		}
		d.errorf(at, "max_surge 0 and max_unavailable 0 would never replace a server: want max_surge >= 1 (extra servers) or max_unavailable >= 1 (downtime per slot)")
	}
}

func (d *decoder) checkSchedule(m *Manifest, p string, s *Schedule) {
	d.requireString(p+".rrule", s.RRule, `an RFC 5545 rule such as "`+exampleRRule+`"`)
	if d.ok(p+".rrule") && strings.TrimSpace(s.RRule) != "" {
		if _, err := ParseRRule(s.RRule); err != nil {
			d.errorf(p+".rrule", "invalid rrule: %v", err)
		}
	}
	switch {
	case !d.written(p + ".window"):
		if !d.bad[p+".window"] {
			d.errorf(p+".window", "missing: want the maintenance window length, from 1h to 24h")
		}
	case d.ok(p+".window") && (s.Window < time.Hour || s.Window > 24*time.Hour):
		d.errorf(p+".window", "want a duration from 1h to 24h, got %s", fmtDuration(s.Window))
	}
	if !d.written(p+".action") && !d.bad[p+".action"] {
		d.errorf(p+".action", "missing: want %s", orList(actions))
	}
	d.enum(p+".action", s.Action, actions)
	if !d.written(p+".target") && !d.bad[p+".target"] {
		d.errorf(p+".target", "missing: want a family (for build-image) or a group (for the other actions)")
	}
	if d.ok(p+".action") && d.ok(p+".target") && slices.Contains(actions, s.Action) {
		d.checkTarget(m, p+".target", s)
	}
	o := s.Options
	if (o.ApplySecurityUpgrades || o.RebootIfRequired || o.ApplyDockerUpgrades || o.ApplyWeaveUpgrades) && (s.Action == ActionBuildImage || s.Action == ActionRebuild) {
		d.errorf(p+".options", "options apply only to actions inplace and update, not %s", s.Action)
	}
}

func (d *decoder) checkTarget(m *Manifest, p string, s *Schedule) {
	if s.Action == ActionBuildImage {
		if m.Families[s.Target] != nil {
			return
		}
		names := m.FamilyNames()
		what := "no family " + quote(s.Target)
		if m.Groups[s.Target] != nil {
			what = quote(s.Target) + " is a group"
		}
		d.errorf(p, "%s%s: action build-image targets a family; %s", what, didYouMean(s.Target, names), known("families", names))
		return
	}
	g := m.Groups[s.Target]
	if g == nil {
		names := m.GroupNames()
		what := "no group " + quote(s.Target)
		if m.Families[s.Target] != nil {
			what = quote(s.Target) + " is a family"
		}
		d.errorf(p, "%s%s: action %s targets a group; %s", what, didYouMean(s.Target, names), s.Action, known("groups", names))
		return
	}
	if s.Action == ActionRebuild && !g.IsReplaceable() {
		d.errorf(p, "group %s is not replaceable (replaceable: false): action rebuild cannot apply; use inplace or update", s.Target)
	}
}

// fmtDuration prints durations the way they are written in the manifest: "30m", not "30m0s".
func fmtDuration(v time.Duration) string {
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
