package failover

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
