package manifest_test

import (
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
)

func ExampleParse() {
	_, err := manifest.Parse("remint.yaml", []byte(`
groups:
  web:
    count: 3
    image: {family: debian-12}
    flavor: m1.small
    network: private
    rollout:
      max_surg: 2
      soak: 30
`))
	fmt.Println(err)
	// Output:
	// remint.yaml:5:21: groups.web.image.family: no family "debian-12"; the manifest defines no families
	// remint.yaml:9:7: groups.web.rollout.max_surg: unknown field "max_surg" (did you mean "max_surge"?); allowed: strategy, max_surge, max_unavailable, soak, keep_old, health_gate, bake, rollback_on_failure, gate
	// remint.yaml:10:13: groups.web.rollout.soak: want a duration such as "30s", "10m" or "1h30m", got integer 30 (add a unit: ns, us, ms, s, m, h)
}

func ExampleParseRRule() {
	set, err := manifest.ParseRRule("DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA")
	if err != nil {
		panic(err)
	}
	// Across the end of summer time: still 13:40 in Sofia.
	for _, t := range set.Between(time.Date(2020, 10, 20, 0, 0, 0, 0, time.UTC), time.Date(2020, 11, 1, 0, 0, 0, 0, time.UTC), true) {
		fmt.Println(t.Format(time.RFC3339))
	}
	// Output:
	// 2020-10-24T13:40:00+03:00
	// 2020-10-31T13:40:00+02:00
}
