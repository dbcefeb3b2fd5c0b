package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is an image version YYYY.MM.N: the year and month it was built in and its build
// number within that month, from 1.
type Version struct {
	Year, Month, N int
}

// ParseVersion parses "2026.11.3".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q: want YYYY.MM.N, e.g. 2026.11.1", s)
	}
	var v Version
	var err error
	for i, dst := range []*int{&v.Year, &v.Month, &v.N} {
		if *dst, err = strconv.Atoi(parts[i]); err != nil {
			return Version{}, fmt.Errorf("version %q: want YYYY.MM.N, e.g. 2026.11.1", s)
		}
	}
	if v.Year < 2000 || v.Year > 9999 || v.Month < 1 || v.Month > 12 || v.N < 1 {
		return Version{}, fmt.Errorf("version %q: year, month (1-12) or build number (>= 1) out of range", s)
	}
	return v, nil
}

func (v Version) String() string { return fmt.Sprintf("%04d.%02d.%d", v.Year, v.Month, v.N) }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Year, w.Year}, {v.Month, w.Month}, {v.N, w.N}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// NextVersion is the version the next image built at now gets, given the versions that
// exist: the current year and month, and one more than the highest build number already
// used in that month. now is taken in UTC.
func NextVersion(now time.Time, existing []Version) Version {
	now = now.UTC()
	next := Version{Year: now.Year(), Month: int(now.Month()), N: 1}
	for _, v := range existing {
		if v.Year == next.Year && v.Month == next.Month && v.N >= next.N {
			next.N = v.N + 1
		}
	}
	return next
}
