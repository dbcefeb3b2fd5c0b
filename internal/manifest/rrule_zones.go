package manifest

import (
	"strings"
	"sync"
	"time"
)

// zones caches time.LoadLocation by name: it reads and parses the zone file each call,
// and a daemon with 10,000 schedules in a handful of zones would do that 10,000 times at
// start. A *time.Location is immutable and safe to share.
var zones sync.Map // name -> *time.Location

func loadZone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// splitTZID splits a DTSTART value "TZID=Europe/Sofia:20200803T134000" into its zone
// name and time; ok is false for a value without a TZID parameter.
func splitTZID(value string) (zone, rest string, ok bool) {
	tz, rest, found := strings.Cut(value, ":")
	if !found || !strings.HasPrefix(tz, "TZID=") || len(tz) == len("TZID=") || strings.Contains(rest, ":") {
		return "", "", false
	}
	return tz[len("TZID="):], rest, true
}
