package manifest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// fam is a valid family "f1" on lines 1-6.
const fam = `families:
  f1:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
`

// withGroup returns a manifest with family f1 and a group "web" holding the required
// fields (lines 7-12) followed by extra, indented under the group; extra starts on line 13.
func withGroup(extra string) string {
	return fam + `groups:
  web:
    count: 1
    image: {family: f1}
    flavor: m1.small
    network: private
` + indent(extra, "    ")
}

// withSchedule returns withGroup("") plus a schedule "s1" whose body is extra (indented
// under it); extra starts on line 15.
func withSchedule(extra string) string {
	return withGroup("") + "schedules:\n  s1:\n" + indent(extra, "    ")
}

func indent(s, by string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// problems parses src as t.yaml and returns its error lines ("" when valid).
func problems(t *testing.T, src string) []string {
	t.Helper()
	m, err := Parse("t.yaml", []byte(src))
	if err == nil {
		require.NotNil(t, m)
		return nil
	}
	require.Nil(t, m, "an invalid manifest is not returned")
	var errs Errors
	require.True(t, errors.As(err, &errs), "error is manifest.Errors: %v", err)
	return strings.Split(err.Error(), "\n")
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"family only":            fam,
		"group":                  withGroup(""),
		"max_unavailable 0 only": withGroup("rollout: {max_unavailable: 0}"),
		"surge 0 unavailable 1":  withGroup("rollout: {max_surge: 0, max_unavailable: 1}"),
		"bluegreen group mode": withGroup(`rollout: {strategy: bluegreen}
failover: {mode: group, addresses: [{address: 203.0.113.5}]}`),
		"bluegreen per_server": withGroup(`rollout: {strategy: bluegreen}
failover: {addresses: [{id: 6b3c1f0e-1b7a-4d39-9f5e-0a4f8d2b9c11}]}`),
		"http with defaults":     withGroup("health:\n  http:\n"),
		"standard tags that fit": "cloud: !!str remint-sim\n" + withGroup("inplace: {concurrency: !!int 2}\nreplaceable: !!bool true\nrollout: !!map {soak: !!str 5s}\nsecurity_groups: !!seq [default]\nssh_user: !!null\n"),
		"command health":         withGroup("health: {command: systemctl is-active nginx}"),
		"cloud health":           withGroup("health: {cloud: {}, healthy_threshold: 2}"),
		"cloud health null":      withGroup("health:\n  cloud:\n"),
		"pinned image":           fam + "groups:\n  g:\n    count: 1\n    image: {family: f1, version: 2024.01.2}\n    flavor: x\n    network: y\n",
		"image by id, pet user":  fam + "groups:\n  g:\n    count: 1\n    image: {id: abc}\n    flavor: x\n    network: y\n    replaceable: false\n    ssh_user: root\n",
		"per_server one each": withGroup(`failover:
  addresses: [{address: 203.0.113.5}]`),
		"packages and pins": `families:
  f1:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
    provision:
      docker: "5:20.10.24+dfsg1-1+b3"
      packages: [curl, "nginx=1.22.1-9", libc6.1-dev, "g++=4:12.2.0-3"]
      weave:
        version: v2.8.1
        script_url: file:///opt/weave/weave
        sha256: 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef
`,
		"anchors and merge keys": fam + `x-common: &common
  flavor: m1.small
  network: private
groups: &groups
  web:
    <<: *common
    count: 2
    image: {family: f1}
  api:
    <<: [*common]
    network: other
    count: 1
    image: {family: f1}
`,
		"postgres state": "state: postgres://remint@db/remint\n" + fam,
		"schedule": withSchedule(`rrule: "dtstart;tzid=Europe/Sofia:20200803t134000 rrule:freq=weekly;byday=sa"
window: 24h
action: update
target: web
options: {apply_security_upgrades: true, reboot_if_required: true}`),
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "anchors and merge keys" {
				// x-common is not a field: merge keys work, unknown top-level keys do not.
				assert.Equal(t, []string{`t.yaml:7:1: x-common: unknown field "x-common"; allowed: cloud, state, families, groups, schedules`}, problems(t, src))
				return
			}
			assert.Empty(t, problems(t, src))
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want []string
	}{
		// Syntax and document shape.
		{"empty", "", []string{`t.yaml:1:1: empty manifest: want a mapping with cloud, families, groups and schedules`}},
		{"comments only", "# nothing\n", []string{`t.yaml:1:1: empty manifest: want a mapping with cloud, families, groups and schedules`}},
		{"syntax", "families:\n  f1: [\n", []string{`t.yaml:2: invalid YAML: did not find expected node content`}},
		{"two documents", fam + "---\ncloud: x\n", []string{`t.yaml:7:1: a second YAML document: want exactly one (remove the --- separator)`}},
		{"not a mapping", "- a\n- b\n", []string{`t.yaml:1:1: want a mapping with keys cloud, state, families, groups, schedules, got a list`}},
		{"nothing defined", "cloud: x\n", []string{`t.yaml:1:1: defines no families and no groups: want at least one of them`}},
		{"duplicate key", fam + "  f1:\n    source_image: x\n", []string{`t.yaml:7:3: families.f1: duplicate key "f1" (first at line 2)`}},

		// Unknown fields, with and without a suggestion.
		{"unknown top-level", "familes: {}\n" + fam, []string{`t.yaml:1:1: familes: unknown field "familes" (did you mean "families"?); allowed: cloud, state, families, groups, schedules`}},
		{"unknown nested", withGroup("rollout: {max_surg: 2}"), []string{`t.yaml:13:15: groups.web.rollout.max_surg: unknown field "max_surg" (did you mean "max_surge"?); allowed: strategy, max_surge, max_unavailable, soak, keep_old, health_gate, bake, rollback_on_failure, gate`}},
		{"unknown camelCase", withGroup("rollout: {maxSurge: 2}"), []string{`t.yaml:13:15: groups.web.rollout.maxSurge: unknown field "maxSurge" (did you mean "max_surge"?); allowed: strategy, max_surge, max_unavailable, soak, keep_old, health_gate, bake, rollback_on_failure, gate`}},
		{"unknown far", withGroup("colour: blue"), []string{`t.yaml:13:5: groups.web.colour: unknown field "colour"; allowed: count, image, flavor, network, key_name, ssh_user, security_groups, user_data, metadata, replaceable, failover, health, rollout, inplace`}},

		// Explicit YAML tags: only standard ones that fit the field.
		{"python tag", "cloud: !!python/object:os.system remint-sim\n" + fam, []string{`t.yaml:1:8: cloud: YAML tag !!python/object:os.system is not allowed: the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)`}},
		{"custom tag", withGroup("key_name: !vault secret"), []string{`t.yaml:13:15: groups.web.key_name: YAML tag !vault is not allowed: the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)`}},
		{"tag on a mapping", withGroup("rollout: !!set {soak: 1s}"), []string{`t.yaml:13:14: groups.web.rollout: YAML tag !!set is not allowed: the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)`}},
		{"int tag on a string", withGroup("key_name: !!int 5"), []string{`t.yaml:13:15: groups.web.key_name: YAML tag !!int is not allowed: the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)`}},
		{"binary tag", withGroup("user_data: !!binary aGVsbG8="), []string{`t.yaml:13:16: groups.web.user_data: YAML tag !!binary is not allowed: the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)`}},
		{"tagged key", withGroup("metadata: {!!python/name:x role: web}"), []string{`t.yaml:13:16: groups.web.metadata.role: key "role" has the YAML tag !!python/name:x: the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)`}},

		// Wrong types.
		{"int from string", strings.Replace(withGroup(""), "count: 1", `count: three`, 1), []string{`t.yaml:9:12: groups.web.count: want an integer, got string "three"`}},
		{"int from quoted", strings.Replace(withGroup(""), "count: 1", `count: "3"`, 1), []string{`t.yaml:9:12: groups.web.count: want an integer, got string "3"`}},
		{"int from float", strings.Replace(withGroup(""), "count: 1", `count: 2.5`, 1), []string{`t.yaml:9:12: groups.web.count: want an integer, got number 2.5`}},
		{"bool from yes", withGroup("replaceable: yes"), []string{`t.yaml:13:18: groups.web.replaceable: want true or false, got string "yes"`}},
		{"bad bool is not false", "groups:\n  g:\n    count: 1\n    image: {id: x}\n    flavor: x\n    network: y\n    replaceable: no\n", []string{`t.yaml:7:18: groups.g.replaceable: want true or false, got string "no"`}},
		{"list from string", withGroup("security_groups: default"), []string{`t.yaml:13:22: groups.web.security_groups: want a list, got string "default"`}},
		{"struct from string", strings.Replace(withGroup(""), "image: {family: f1}", "image: f1", 1), []string{`t.yaml:10:12: groups.web.image: want a mapping with keys family, version, id, got string "f1"`}},
		{"string from mapping", withGroup("key_name: {a: b}"), []string{`t.yaml:13:15: groups.web.key_name: want a string, got a mapping`}},
		{"map from list", withGroup("metadata: [a]"), []string{`t.yaml:13:15: groups.web.metadata: want a mapping of names, got a list`}},

		// Durations.
		{"duration without unit", withGroup("rollout: {soak: 30}"), []string{`t.yaml:13:21: groups.web.rollout.soak: want a duration such as "30s", "10m" or "1h30m", got integer 30 (add a unit: ns, us, ms, s, m, h)`}},
		{"duration words", withGroup("rollout: {keep_old: 5 minutes}"), []string{`t.yaml:13:25: groups.web.rollout.keep_old: want a duration such as "30s", "10m" or "1h30m", got string "5 minutes"`}},
		{"duration negative", withGroup("rollout: {soak: -5s}"), []string{`t.yaml:13:21: groups.web.rollout.soak: want a duration >= 0, got -5s`}},
		{"duration zero interval", withGroup("health: {http: {}, interval: 0s}"), []string{`t.yaml:13:34: groups.web.health.interval: want a duration > 0, got 0s`}},
		{"deadline before grace", withGroup("health: {http: {}, grace_period: 10m}"), []string{`t.yaml:13:38: groups.web.health.grace_period: deadline 5m must be longer than grace_period 10m (the replacement would time out before it is checked)`}},

		// Ranges.
		{"count zero", strings.Replace(withGroup(""), "count: 1", "count: 0", 1), []string{`t.yaml:9:12: groups.web.count: want an integer from 1 to 1000, got 0`}},
		{"count too big", strings.Replace(withGroup(""), "count: 1", "count: 1001", 1), []string{`t.yaml:9:12: groups.web.count: want an integer from 1 to 1000, got 1001`}},
		{"count missing", strings.Replace(withGroup(""), "    count: 1\n", "", 1), []string{`t.yaml:8:3: groups.web.count: missing: want an integer from 1 to 1000`}},
		{"count null", strings.Replace(withGroup(""), "count: 1", "count:", 1), []string{`t.yaml:9:5: groups.web.count: missing: want an integer from 1 to 1000`}},
		{"max_surge negative", withGroup("rollout:\n  max_surge: -1"), []string{`t.yaml:14:18: groups.web.rollout.max_surge: want an integer >= 0, got -1`}},
		{"max_unavailable negative", withGroup("rollout:\n  max_unavailable: -2"), []string{`t.yaml:14:24: groups.web.rollout.max_unavailable: want an integer >= 0, got -2`}},
		{"surge and unavailable zero", withGroup("rollout:\n  max_surge: 0"), []string{`t.yaml:14:18: groups.web.rollout.max_surge: max_surge 0 and max_unavailable 0 would never replace a server: want max_surge >= 1 (extra servers) or max_unavailable >= 1 (downtime per slot)`}},
		{"retention zero", fam + "    retention: 0\n", []string{`t.yaml:7:16: families.f1.retention: want an integer >= 1, got 0`}},
		{"family health port", fam + "    health: {tcp: {port: 0}}\n", []string{`t.yaml:7:26: families.f1.health.tcp.port: want an integer from 1 to 65535, got 0`}},
		{"thresholds zero", withGroup("health: {http: {}, healthy_threshold: 0, unhealthy_threshold: -1}"), []string{
			`t.yaml:13:43: groups.web.health.healthy_threshold: want an integer >= 1, got 0`,
			`t.yaml:13:67: groups.web.health.unhealthy_threshold: want an integer >= 1, got -1`}},
		{"http port and status", withGroup("health:\n  http: {port: 0, status: 600, path: healthz}"), []string{
			`t.yaml:14:20: groups.web.health.http.port: want an integer from 1 to 65535, got 0`,
			`t.yaml:14:31: groups.web.health.http.status: want an integer from 100 to 599, got 600`,
			`t.yaml:14:42: groups.web.health.http.path: want a path starting with /, got "healthz"`}},
		{"tcp port missing", withGroup("health:\n  tcp: {}"), []string{`t.yaml:14:7: groups.web.health.tcp.port: missing: want the port to connect to, 1 to 65535`}},
		{"tcp port too big", withGroup("health:\n  tcp: {port: 65536}"), []string{`t.yaml:14:19: groups.web.health.tcp.port: want an integer from 1 to 65535, got 65536`}},
		{"window too short", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 30m\naction: rebuild\ntarget: web"), []string{`t.yaml:16:13: schedules.s1.window: want a duration from 1h to 24h, got 30m`}},
		{"window too long", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 25h\naction: rebuild\ntarget: web"), []string{`t.yaml:16:13: schedules.s1.window: want a duration from 1h to 24h, got 25h`}},
		{"concurrency zero", withGroup("inplace: {concurrency: 0, error_budget: -1}"), []string{
			`t.yaml:13:28: groups.web.inplace.concurrency: want an integer >= 1, got 0`,
			`t.yaml:13:45: groups.web.inplace.error_budget: want an integer >= 0, got -1`}},

		// Enumerations.
		{"rollback_on_failure", withGroup("rollout: {rollback_on_failure: every}"), []string{`t.yaml:13:36: groups.web.rollout.rollback_on_failure: want wave or all, got "every"`}},
		{"bake negative", withGroup("rollout: {bake: -1m}"), []string{`t.yaml:13:21: groups.web.rollout.bake: want a duration >= 0, got -1m`}},
		{"gate without source", withGroup("rollout: {gate: {}}"), []string{`t.yaml:13:21: groups.web.rollout.gate: missing: want prometheus: {url, query, max}`}},
		{"gate prometheus incomplete", withGroup("rollout: {gate: {prometheus: {url: 'ftp://p:9090', query: ''}}}"), []string{
			`t.yaml:13:22: groups.web.rollout.gate.prometheus.max: missing: want the highest value the query may return`,
			`t.yaml:13:40: groups.web.rollout.gate.prometheus.url: want an http:// or https:// URL with a host, got "ftp://p:9090"`,
			`t.yaml:13:63: groups.web.rollout.gate.prometheus.query: empty: want a PromQL expression (an instant vector or a scalar)`,
		}},
		{"strategy", withGroup("rollout: {strategy: blue-green}"), []string{`t.yaml:13:25: groups.web.rollout.strategy: want rolling or bluegreen, got "blue-green" (did you mean "bluegreen"?)`}},
		{"mode", withGroup("failover: {mode: perserver}"), []string{`t.yaml:13:22: groups.web.failover.mode: want per_server or group, got "perserver" (did you mean "per_server"?)`}},
		{"reboot", withGroup("inplace: {reboot: sometimes}"), []string{`t.yaml:13:23: groups.web.inplace.reboot: want never, if-required or always, got "sometimes"`}},
		{"action", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 1h\naction: build\ntarget: web"), []string{`t.yaml:17:13: schedules.s1.action: want build-image, rebuild, inplace or update, got "build"`}},

		// Exactly-one-of rules.
		{"health two kinds", withGroup("health:\n  http: {}\n  tcp: {port: 22}"), []string{`t.yaml:15:12: groups.web.health.tcp: want exactly one of http, tcp, command or cloud, got http and tcp`}},
		{"health http and cloud", withGroup("health:\n  http: {}\n  cloud: {}"), []string{`t.yaml:15:14: groups.web.health.cloud: want exactly one of http, tcp, command or cloud, got http and cloud`}},
		{"cloud with a field", withGroup("health: {cloud: {port: 22}}"), []string{`t.yaml:13:22: groups.web.health.cloud.port: unknown field "port"; cloud takes no fields (write {})`}},
		{"cloud not a mapping", withGroup("health: {cloud: yes}"), []string{`t.yaml:13:21: groups.web.health.cloud: want an empty mapping {}, got string "yes"`}},
		{"family cloud health", fam + "    health: {cloud: {}}\n", []string{`t.yaml:7:21: families.f1.health.cloud: a family's verification boot cannot use the cloud check (its server is already known to be ACTIVE, so it would prove nothing): use http, tcp or command, or leave the family's health out`}},
		{"health no kind", withGroup("health:\n  interval: 5s"), []string{`t.yaml:14:7: groups.web.health: want exactly one of http, tcp, command or cloud, got none`}},
		{"address none", withGroup("failover:\n  addresses: [{}]"), []string{`t.yaml:14:19: groups.web.failover.addresses[0]: want exactly one of address, id or allocate_from, got none`}},
		{"address two", withGroup("failover:\n  addresses: [{address: 203.0.113.5, allocate_from: public}]"), []string{`t.yaml:14:19: groups.web.failover.addresses[0]: want exactly one of address, id or allocate_from, got address and allocate_from`}},
		{"address not an IP", withGroup("failover:\n  addresses: [{address: 203.0.113.300}]"), []string{`t.yaml:14:29: groups.web.failover.addresses[0].address: want an IP address, got "203.0.113.300"`}},
		{"image none", strings.Replace(withGroup(""), "image: {family: f1}", "image: {}", 1), []string{`t.yaml:10:12: groups.web.image: missing: want family (its latest active image), family with version, or id`}},
		{"image missing", strings.Replace(withGroup(""), "    image: {family: f1}\n", "", 1), []string{`t.yaml:8:3: groups.web.image: missing: want family (its latest active image), family with version, or id`}},
		{"image id and family", strings.Replace(withGroup(""), "image: {family: f1}", "image: {family: f1, id: abc}", 1), []string{`t.yaml:10:29: groups.web.image.id: id pins an image by itself: want family (its latest active image), family with version, or id, not id together with family or version`}},
		{"image version alone", strings.Replace(withGroup(""), "image: {family: f1}", "image: {version: 2024.01.1}", 1), []string{`t.yaml:10:22: groups.web.image.version: version needs family: want family (its latest active image), family with version, or id`}},
		{"image bad version", strings.Replace(withGroup(""), "image: {family: f1}", "image: {family: f1, version: 2024.13.1}", 1), []string{`t.yaml:10:34: groups.web.image.version: want a version YYYY.MM.N such as "2024.01.1", got "2024.13.1"`}},

		// Dangling references.
		{"image family unknown", strings.Replace(withGroup(""), "image: {family: f1}", "image: {family: f2}", 1), []string{`t.yaml:10:21: groups.web.image.family: no family "f2" (did you mean "f1"?); families: f1`}},
		{"image family none defined", "groups:\n  g:\n    count: 1\n    image: {family: debian-12}\n    flavor: x\n    network: y\n", []string{`t.yaml:4:21: groups.g.image.family: no family "debian-12"; the manifest defines no families`}},
		{"build-image on a group", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 1h\naction: build-image\ntarget: web"), []string{`t.yaml:18:13: schedules.s1.target: "web" is a group: action build-image targets a family; families: f1`}},
		{"rebuild on a family", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 1h\naction: rebuild\ntarget: f1"), []string{`t.yaml:18:13: schedules.s1.target: "f1" is a family: action rebuild targets a group; groups: web`}},
		{"target typo", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 1h\naction: update\ntarget: wbe"), []string{`t.yaml:18:13: schedules.s1.target: no group "wbe" (did you mean "web"?): action update targets a group; groups: web`}},
		{"rebuild a pet", strings.Replace(withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 1h\naction: rebuild\ntarget: web"), "image: {family: f1}\n", "image: {family: f1}\n    replaceable: false\n", 1), []string{`t.yaml:19:13: schedules.s1.target: group web is not replaceable (replaceable: false): action rebuild cannot apply; use inplace or update`}},
		{"schedule missing all", withSchedule("options: {}"), []string{
			`t.yaml:14:3: schedules.s1.action: missing: want build-image, rebuild, inplace or update`,
			`t.yaml:14:3: schedules.s1.rrule: missing: want an RFC 5545 rule such as "DTSTART;TZID=Europe/Sofia:20240106T020000 RRULE:FREQ=WEEKLY;BYDAY=SA"`,
			`t.yaml:14:3: schedules.s1.target: missing: want a family (for build-image) or a group (for the other actions)`,
			`t.yaml:14:3: schedules.s1.window: missing: want the maintenance window length, from 1h to 24h`}},
		{"options on build-image", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 1h\naction: build-image\ntarget: f1\noptions: {apply_docker_upgrades: true}"), []string{`t.yaml:19:14: schedules.s1.options: options apply only to actions inplace and update, not build-image`}},
		{"rrule invalid", withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=WEEKLI\nwindow: 1h\naction: rebuild\ntarget: web"), []string{`t.yaml:15:12: schedules.s1.rrule: invalid rrule: RRULE "FREQ=WEEKLI": undefined frequency: WEEKLI`}},
		{"release invalid", fam + "    release: RRULE:FREQ=MONTHLY\n", []string{`t.yaml:7:14: families.f1.release: invalid rrule: starts with RRULE: want DTSTART first, e.g. "DTSTART;TZID=Europe/Sofia:20240106T020000 RRULE:FREQ=WEEKLY;BYDAY=SA"`}},

		// Failover modes and strategies.
		{"per_server count mismatch", strings.Replace(withGroup("failover:\n  addresses: [{address: 203.0.113.5}, {address: 203.0.113.6}]"), "count: 1", "count: 3", 1), []string{`t.yaml:14:18: groups.web.failover.addresses: mode per_server: want one address per server (3), a single allocate_from entry (one allocated per server), or none; got 2`}},
		{"group mode two addresses", withGroup("rollout: {strategy: bluegreen}\nfailover:\n  mode: group\n  addresses: [{allocate_from: public}, {allocate_from: public}]"), []string{`t.yaml:16:18: groups.web.failover.addresses: mode group: want exactly 1 address (the group's), got 2`}},
		{"group mode rolling", withGroup("failover:\n  mode: group\n  addresses: [{allocate_from: public}]"), []string{`t.yaml:14:13: groups.web.failover.mode: mode group moves one address for the whole group at once: it needs rollout.strategy bluegreen (rolling needs mode per_server)`}},
		{"bluegreen with surge", withGroup("rollout: {strategy: bluegreen, max_surge: 2}"), []string{`t.yaml:13:47: groups.web.rollout.max_surge: not used by strategy bluegreen (it builds the whole new generation before moving anything); remove it or use strategy rolling`}},
		{"address used twice", withGroup("failover:\n  addresses: [{address: 203.0.113.5}]") + "  api:\n    count: 1\n    image: {id: x}\n    flavor: x\n    network: y\n    failover:\n      addresses: [{address: 203.0.113.5}]\n", []string{`t.yaml:14:19: groups.web.failover.addresses[0]: address 203.0.113.5 is already used by groups.api.failover.addresses[0]`}},

		// Provisioning pins.
		{"package names", fam + "    provision:\n      packages: [Curl, \"nginx=1.0 && rm -rf /\", curl, curl, \"x\"]\n", []string{
			`t.yaml:8:18: families.f1.provision.packages[0]: want a Debian package name: lowercase letters, digits and + - ., at least 2 characters, starting with a letter or digit; got "Curl" (write name or name=version)`,
			`t.yaml:8:24: families.f1.provision.packages[1]: version of nginx: want a Debian version: optional epoch "N:", then a digit, then letters, digits and . + ~ - (e.g. "20.10.24+dfsg1-1+b3"), got "1.0 && rm -rf /"`,
			`t.yaml:8:55: families.f1.provision.packages[3]: package curl is already listed at families.f1.provision.packages[2]`,
			`t.yaml:8:61: families.f1.provision.packages[4]: want a Debian package name: lowercase letters, digits and + - ., at least 2 characters, starting with a letter or digit; got "x" (write name or name=version)`}},
		{"docker pin", fam + "    provision: {docker: latest}\n", []string{`t.yaml:7:25: families.f1.provision.docker: want a Debian version: optional epoch "N:", then a digit, then letters, digits and . + ~ - (e.g. "20.10.24+dfsg1-1+b3"), got "latest"`}},
		{"weave", fam + "    provision:\n      weave: {version: latest, script_url: \"http://example.com/weave\", sha256: abc123}\n", []string{
			`t.yaml:8:24: families.f1.provision.weave.version: want a version such as "2.8.1", got "latest"`,
			`t.yaml:8:44: families.f1.provision.weave.script_url: want an https:// URL or a file:/// path, got "http://example.com/weave"`,
			`t.yaml:8:80: families.f1.provision.weave.sha256: want 64 hex digits (the SHA-256 of the script), got 6 characters "abc123"`}},
		{"weave missing fields", fam + "    provision:\n      weave: {}\n", []string{
			`t.yaml:8:7: families.f1.provision.weave.script_url: missing: want the https:// URL or file:/// path of the weave script`,
			`t.yaml:8:7: families.f1.provision.weave.sha256: missing: want the SHA-256 of the weave script, 64 hex digits`,
			`t.yaml:8:7: families.f1.provision.weave.version: missing: want the Weave Net version, e.g. "2.8.1"`}},

		// Limits and lists.
		{"security groups", withGroup("security_groups: [default, \"\", default]"), []string{
			`t.yaml:13:32: groups.web.security_groups[1]: empty: want a security group name or id`,
			`t.yaml:13:36: groups.web.security_groups[2]: security group "default" is already listed at groups.web.security_groups[0]`}},
		{"metadata too long", withGroup("metadata: {role: " + strings.Repeat("x", 256) + "}"), []string{`t.yaml:13:22: groups.web.metadata.role: value of 256 characters: want at most 255`}},
		{"user data too big", withGroup("user_data: " + strings.Repeat("x", 49150)), []string{`t.yaml:13:16: groups.web.user_data: 49150 bytes: want at most 49149 (Nova accepts 65535 bytes after base64)`}},
		{"empty optional", withGroup(`key_name: ""`), []string{`t.yaml:13:15: groups.web.key_name: empty: want a Nova keypair name, or leave the field out`}},
		{"empty script", fam + "    provision: {scripts: [\"  \"]}\n", []string{`t.yaml:7:27: families.f1.provision.scripts[0]: empty: want the text of a shell script`}},
		{"timestamp for an integer", strings.Replace(withGroup(""), "count: 1", "count: 2024-01-01", 1), []string{`t.yaml:9:12: groups.web.count: want an integer, got !!timestamp "2024-01-01"`}},
		{"merge of a scalar", withGroup("<<: 3"), []string{`t.yaml:13:9: groups.web: merge key <<: want a mapping or a list of mappings, got integer 3`}},
		{"address entries in a block list", withGroup("failover:\n  addresses:\n    - {}\n    - address: 203.0.113.5\n      id: x"), []string{
			`t.yaml:15:9: groups.web.failover.addresses: mode per_server: want one address per server (1), a single allocate_from entry (one allocated per server), or none; got 2`,
			`t.yaml:15:11: groups.web.failover.addresses[0]: want exactly one of address, id or allocate_from, got none`,
			`t.yaml:16:11: groups.web.failover.addresses[1]: want exactly one of address, id or allocate_from, got address and id`}},

		// Required fields, names, users, state.
		{"family required", "families:\n  f1: {}\n", []string{
			`t.yaml:2:3: families.f1.flavor: missing: want the flavor (name or id) of the builder server`,
			`t.yaml:2:3: families.f1.network: missing: want the network (name or id) of the builder server`,
			`t.yaml:2:3: families.f1.source_image: missing: want the Glance image (name or id) builds start from`,
			`t.yaml:2:3: families.f1.ssh_user: missing: want the login user of the source image (Debian cloud images: "debian")`}},
		{"blank string", strings.Replace(fam, "flavor: m1.small", `flavor: " "`, 1), []string{`t.yaml:4:13: families.f1.flavor: empty: want the flavor (name or id) of the builder server`}},
		{"bad name", strings.Replace(withGroup(""), "  web:", "  Web_1:", 1), []string{`t.yaml:8:3: groups.Web_1: name "Web_1": want a DNS label: lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit`}},
		{"pet without user", "groups:\n  db:\n    count: 1\n    image: {id: abc}\n    flavor: x\n    network: y\n    replaceable: false\n", []string{`t.yaml:2:3: groups.db.ssh_user: missing: the group is not replaceable (it is patched in place over SSH); want the login user of its servers (here, or ssh_user of its image family)`}},
		{"state scheme", "state: mysql://x/y\n" + fam, []string{`t.yaml:1:8: state: want a file path (SQLite) or a postgres:// URL, got "mysql://x/y"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, c.want, problems(t, c.src), "manifest:\n%s", c.src)
		})
	}
}

// TestParseCollectsAllErrors checks that problems in different places are all reported,
// sorted by position, and exposed individually.
func TestParseCollectsAllErrors(t *testing.T) {
	t.Parallel()
	src := withSchedule("rrule: DTSTART:20240101T000000Z RRULE:FREQ=DAILY\nwindow: 2d\naction: rebuild\ntarget: web")
	src = strings.Replace(src, "count: 1", "count: -1", 1)
	src = strings.Replace(src, "ssh_user: debian", "ssh_user: [debian]", 1)
	_, err := Parse("t.yaml", []byte(src))
	var errs Errors
	require.ErrorAs(t, err, &errs)
	require.Len(t, errs, 3)
	assert.Equal(t, &Error{File: "t.yaml", Line: 6, Column: 15, Field: "families.f1.ssh_user", Message: "want a string, got a list"}, errs[0])
	assert.Equal(t, 9, errs[1].Line)
	assert.Equal(t, "groups.web.count", errs[1].Field)
	assert.Equal(t, "schedules.s1.window", errs[2].Field)
	assert.Equal(t, `t.yaml:16:13: schedules.s1.window: want a duration such as "30s", "10m" or "1h30m", got string "2d"`, errs[2].Error())
}

func TestParseAliasBomb(t *testing.T) {
	t.Parallel()
	// Nine levels of merge keys, each merging the previous level ten times: 10^8 merges
	// from a dozen lines unless expansion is bounded.
	var b strings.Builder
	b.WriteString("x0: &x0 {flavor: a}\n")
	for i := 1; i < 9; i++ {
		p := fmt.Sprintf("*x%d", i-1)
		fmt.Fprintf(&b, "x%d: &x%d {<<: [%s]}\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	src := b.String() + "groups:\n  web:\n    <<: *x8\n"
	done := make(chan error, 1)
	go func() { _, err := Parse("t.yaml", []byte(src)); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "groups.web: document expands to more than 200000 nodes (aliases nested too deeply)")
	case <-time.After(20 * time.Second):
		t.Fatal("Parse did not stop expanding aliases")
	}
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	m, err := Load("../../examples/remint.yaml")
	require.NoError(t, err)

	assert.Equal(t, "remint-sim", m.Cloud)
	assert.Equal(t, []string{"debian-12"}, m.FamilyNames())
	assert.Equal(t, []string{"db", "web"}, m.GroupNames())
	assert.Equal(t, []string{"monthly-images", "weekend-web", "weekly-db"}, m.ScheduleNames())
	abs, err := filepath.Abs("../../examples/remint.db")
	require.NoError(t, err)
	assert.Equal(t, abs, m.StatePath())

	f := m.Families["debian-12"]
	assert.Equal(t, "debian-12", f.Name)
	assert.Equal(t, "debian", f.SSHUser)
	assert.Equal(t, 3, f.Keep())
	assert.True(t, f.FullUpgrade())
	assert.Equal(t, DefaultRelease, f.Release)

	web := m.Groups["web"]
	assert.Equal(t, 3, web.Count)
	assert.Equal(t, "debian", web.SSHUser, "inherited from the family")
	assert.True(t, web.IsReplaceable())
	assert.Equal(t, StrategyRolling, web.Strategy())
	assert.Equal(t, 1, web.MaxSurge())
	assert.Equal(t, 0, web.MaxUnavailable())
	assert.Equal(t, ModePerServer, web.FailoverMode())
	slots := web.AddressSlots()
	require.Len(t, slots, 3)
	for _, s := range slots {
		assert.Equal(t, Address{AllocateFrom: "public"}, s)
	}
	h := web.HealthCheck()
	assert.Equal(t, &HTTPCheck{Port: 8080, Path: "/healthz", Status: 200, Body: "ok"}, h.HTTP)
	assert.Equal(t, "5s", web.Rollout.Soak.String())

	db := m.Groups["db"]
	assert.False(t, db.IsReplaceable())
	assert.Equal(t, "tcp", db.Health.Kind())
	assert.Nil(t, db.AddressSlots())

	s := m.Schedules["weekend-web"]
	assert.Equal(t, ActionRebuild, s.Action)
	set, err := s.Set()
	require.NoError(t, err)
	assert.Equal(t, "2024-01-07 03:00:00 +0200 EET", set.After(set.GetDTStart(), true).String())
}

func TestValidScriptURL(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"https://github.com/weaveworks/weave/releases/download/v2.8.1/weave": true,
		"file:///opt/weave/weave":           true,
		"file://localhost/opt/weave/weave":  true,
		"http://example.com/weave":          false,
		"https:///weave":                    false,
		"https://user:pw@example.com/weave": false,
		"file://host/opt/weave":             false,
		"file:weave":                        false,
		"file:///":                          false,
		"ftp://example.com/weave":           false,
		"/opt/weave/weave":                  false,
	}
	for in, want := range cases {
		assert.Equal(t, want, validScriptURL(in), in)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	var errs Errors
	assert.False(t, errors.As(err, &errs), "an unreadable file is not a manifest error")

	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte("cloud: x\n"), 0o600))
	_, err = Load(p)
	require.ErrorAs(t, err, &errs)
	assert.Equal(t, p+":1:1: defines no families and no groups: want at least one of them", err.Error())
}

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// TestExampleDefaultsGolden pins the fully defaulted form of examples/remint.yaml and
// checks that it is itself a valid manifest that loads to the same values.
func TestExampleDefaultsGolden(t *testing.T) {
	t.Parallel()
	m, err := Load("../../examples/remint.yaml")
	require.NoError(t, err)
	got, err := yaml.Marshal(m)
	require.NoError(t, err)
	golden := filepath.Join("testdata", "example-defaults.yaml.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go test ./internal/manifest -run Golden -update after an intended change")

	again, err := Parse(golden, got)
	require.NoError(t, err, "the defaulted manifest must load")
	again.Path, again.dir = m.Path, m.dir
	assert.Equal(t, m, again)
}
