package imagebuild

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
)

// Release says when a family's next versions are built.
type Release struct {
	// Rule is the rrule text in effect; From says where it comes from: "schedule
	// monthly-images" (a build-image schedule naming the family takes the release's
	// place), "release" (the family's own) or "default release".
	Rule string
	From string
	// Zone is the rule's time zone (its DTSTART's TZID, UTC otherwise).
	Zone *time.Location
	// Window is the schedule's maintenance window, 0 for a release rule.
	Window time.Duration
	// Next are the next build times after now, in Zone.
	Next []time.Time
}

// NextReleases returns the next n build times of family after now: from the build-image
// schedules naming it (all of them, merged), else its release rule (default: the 1st of
// each month at 02:00 UTC). Times follow the rule's zone across DST changes; a wall time
// that a DST change skips moves forward by the gap, as Go's time.Date does.
func NextReleases(m *manifest.Manifest, family string, now time.Time, n int) (Release, error) {
	fam, ok := m.Families[family]
	if !ok {
		return Release{}, fmt.Errorf("family %q is not in the manifest", family)
	}
	if n < 1 {
		return Release{}, errors.New("want at least one build time")
	}
	type source struct {
		rule, from string
		window     time.Duration
	}
	var sources []source
	names := make([]string, 0, len(m.Schedules))
	for name := range m.Schedules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := m.Schedules[name]
		if s.Action == "build-image" && s.Target == family {
			sources = append(sources, source{s.RRule, "schedule " + name, s.Window})
		}
	}
	if len(sources) == 0 {
		from := "release"
		if fam.Release == "" {
			from = "default release"
		}
		sources = []source{{fam.ReleaseRule(), from, 0}}
	}
	var rel Release
	for i, src := range sources {
		set, err := manifest.ParseRRule(src.rule)
		if err != nil {
			return Release{}, fmt.Errorf("%s of family %s: %w", src.from, family, err)
		}
		if i == 0 {
			rel.Rule, rel.From, rel.Window = src.rule, src.from, src.window
			rel.Zone = set.GetDTStart().Location()
		} else {
			rel.From += ", " + src.from
		}
		t := now
		for range n {
			next := set.After(t, false)
			if next.IsZero() {
				break // the rule ended (COUNT or UNTIL)
			}
			rel.Next = append(rel.Next, next)
			t = next
		}
	}
	slices.SortFunc(rel.Next, func(a, b time.Time) int { return a.Compare(b) })
	rel.Next = slices.CompactFunc(rel.Next, func(a, b time.Time) bool { return a.Equal(b) })
	if len(rel.Next) > n {
		rel.Next = rel.Next[:n]
	}
	for i := range rel.Next {
		rel.Next[i] = rel.Next[i].In(rel.Zone)
	}
	return rel, nil
}
