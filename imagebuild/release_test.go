package imagebuild

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNextReleases(t *testing.T) {
	t.Parallel()
	sofia := "DTSTART;TZID=Europe/Sofia:20240106T020000 RRULE:FREQ=MONTHLY;BYDAY=1SA"
	cases := []struct {
		name      string
		release   string
		schedules map[string]*manifest.Schedule
		now       string
		n         int
		wantFrom  string
		wantZone  string
		wantUTC   []string
		wantLocal []string // "15:04 MST" in the rule's zone
	}{
		{
			name: "default: the 1st of each month at 02:00 UTC", now: "2026-11-27T12:00:00Z", n: 3,
			wantFrom: "default release", wantZone: "UTC",
			wantUTC:   []string{"2026-12-01T02:00:00Z", "2027-01-01T02:00:00Z", "2027-02-01T02:00:00Z"},
			wantLocal: []string{"02:00 UTC", "02:00 UTC", "02:00 UTC"},
		},
		{
			name: "Sofia across the spring DST change (2026-03-29): 02:00 local stays 02:00", release: sofia,
			now: "2026-02-15T00:00:00Z", n: 3, wantFrom: "release", wantZone: "Europe/Sofia",
			wantUTC:   []string{"2026-03-07T00:00:00Z", "2026-04-03T23:00:00Z", "2026-05-01T23:00:00Z"},
			wantLocal: []string{"02:00 EET", "02:00 EEST", "02:00 EEST"},
		},
		{
			name: "Sofia across the autumn DST change (2026-10-25)", release: sofia,
			now: "2026-09-10T00:00:00Z", n: 3, wantFrom: "release", wantZone: "Europe/Sofia",
			wantUTC:   []string{"2026-10-02T23:00:00Z", "2026-11-07T00:00:00Z", "2026-12-05T00:00:00Z"},
			wantLocal: []string{"02:00 EEST", "02:00 EET", "02:00 EET"},
		},
		{
			name:    "a build-image schedule naming the family takes the release's place",
			release: "DTSTART:20240101T020000Z RRULE:FREQ=DAILY",
			schedules: map[string]*manifest.Schedule{
				"monthly": {RRule: sofia, Window: 4 * time.Hour, Action: "build-image", Target: "debian-12"},
				"other":   {RRule: "DTSTART:20240101T000000Z RRULE:FREQ=HOURLY", Action: "build-image", Target: "ubuntu"},
				"web":     {RRule: "DTSTART:20240101T000000Z RRULE:FREQ=HOURLY", Action: "rebuild", Target: "web"},
			},
			now: "2026-03-07T00:00:00Z", n: 2, wantFrom: "schedule monthly", wantZone: "Europe/Sofia",
			wantUTC:   []string{"2026-04-03T23:00:00Z", "2026-05-01T23:00:00Z"},
			wantLocal: []string{"02:00 EEST", "02:00 EEST"},
		},
		{
			name: "a rule that ends returns what is left", release: "DTSTART:20260101T020000Z RRULE:FREQ=MONTHLY;COUNT=12",
			now: "2026-11-15T00:00:00Z", n: 5, wantFrom: "release", wantZone: "UTC",
			wantUTC: []string{"2026-12-01T02:00:00Z"}, wantLocal: []string{"02:00 UTC"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &manifest.Manifest{
				Families:  map[string]*manifest.Family{"debian-12": {Name: "debian-12", Release: tc.release}, "ubuntu": {Name: "ubuntu"}},
				Schedules: tc.schedules,
			}
			rel, err := NextReleases(m, "debian-12", utc(tc.now), tc.n)
			require.NoError(t, err)
			assert.Equal(t, tc.wantFrom, rel.From)
			assert.Equal(t, tc.wantZone, rel.Zone.String())
			var gotUTC, gotLocal []string
			for _, n := range rel.Next {
				gotUTC = append(gotUTC, n.UTC().Format(time.RFC3339))
				gotLocal = append(gotLocal, n.Format("15:04 MST"))
			}
			assert.Equal(t, tc.wantUTC, gotUTC)
			assert.Equal(t, tc.wantLocal, gotLocal)
		})
	}
}

func TestNextReleasesErrors(t *testing.T) {
	t.Parallel()
	m := &manifest.Manifest{Families: map[string]*manifest.Family{"debian-12": {Name: "debian-12", Release: "RRULE:FREQ=DAILY"}}}
	_, err := NextReleases(m, "debian-12", time.Now(), 3)
	assert.ErrorContains(t, err, "release of family debian-12")
	_, err = NextReleases(m, "nope", time.Now(), 3)
	assert.ErrorContains(t, err, `family "nope"`)
}
