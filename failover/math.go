package failover

import (
	"fmt"
	"strconv"
	"strings"
)

// waveSize is how many slots one rolling wave replaces: up to surge of them by creating
// the replacement first (the group briefly has count+surge servers) and up to unavailable
// of them by retiring the old server first (the group briefly has count-unavailable).
func waveSize(surge, unavailable int) int { return surge + unavailable }

// waveCount is the number of waves needed for n replacements: ceil(n / waveSize).
func waveCount(n, surge, unavailable int) int {
	size := waveSize(surge, unavailable)
	if n <= 0 || size <= 0 {
		return 0
	}
	return (n + size - 1) / size
}

// capBudget limits surge and unavailability to what n replacements can use, so that a
// plan never claims more headroom than it needs (surge 5 for 2 replacements is 2).
func capBudget(n, surge, unavailable int) (int, int) {
	surge = min(surge, n)
	unavailable = min(unavailable, n-surge)
	return surge, max(unavailable, 0)
}

// Version is an image version YYYY.MM.N, ordered numerically.
type Version struct{ Year, Month, N int }

// ParseVersion parses YYYY.MM.N.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("image version %q: want YYYY.MM.N", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("image version %q: want YYYY.MM.N", s)
		}
		v[i] = n
	}
	if v[1] < 1 || v[1] > 12 {
		return Version{}, fmt.Errorf("image version %q: month %d out of range", s, v[1])
	}
	return Version{v[0], v[1], v[2]}, nil
}

// Compare returns -1, 0 or 1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	for _, d := range [3]int{v.Year - o.Year, v.Month - o.Month, v.N - o.N} {
		if d < 0 {
			return -1
		}
		if d > 0 {
			return 1
		}
	}
	return 0
}

func (v Version) String() string { return fmt.Sprintf("%d.%02d.%d", v.Year, v.Month, v.N) }
