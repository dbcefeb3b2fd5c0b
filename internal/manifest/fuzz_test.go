package manifest

import (
	"errors"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse checks that Parse never panics, that every problem it reports has a position
// inside the input, and that what it accepts survives a marshal/parse round trip.
// Run longer with: go test ./internal/manifest -run '^$' -fuzz FuzzParse -fuzztime 1m
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../examples/remint.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(withGroup("rollout: {max_surge: 0}\nfailover: {mode: group, addresses: [{allocate_from: public}]}")))
	f.Add([]byte(withSchedule("rrule: DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA\nwindow: 4h\naction: build-image\ntarget: f1")))
	f.Add([]byte("a: &a {<<: [*a]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("f.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %v", err)
			}
			lines := 1 // YAML breaks lines at \n, \r\n and a lone \r
			for i, b := range data {
				if b == '\n' || b == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
					lines++
				}
			}
			for _, e := range errs {
				if e.Line < 0 || e.Line > lines+1 || e.Message == "" {
					t.Fatalf("bad problem %+v for %d lines", e, lines)
				}
			}
			return
		}
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatalf("marshal accepted manifest: %v", err)
		}
		if _, err := Parse("f.yaml", out); err != nil {
			t.Fatalf("defaulted manifest does not parse:\n%s\n%v", out, err)
		}
	})
}
