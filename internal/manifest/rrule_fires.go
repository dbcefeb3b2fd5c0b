package manifest

import (
	"fmt"
	"time"

	"github.com/teambition/rrule-go"
)

// checkFires rejects rules that never produce an occurrence. rrule-go looks for the next
// occurrence without a bound: an hourly rule whose BYHOUR is off its INTERVAL grid
// (FREQ=HOURLY;INTERVAL=4;BYHOUR=2 from 09:00) loops forever inside the library, and a
// rule whose filters never match (FREQ=HOURLY;BYSETPOS=2) walks to the year 9999. A
// scheduler asking such a rule for its next run would hang, so it is refused here.
func checkFires(set *rrule.Set) error {
	r := set.GetRRule()
	if r == nil {
		return nil // RDATEs only: a finite list
	}
	opt := r.OrigOptions
	if err := checkGridReachable(opt, set.GetDTStart()); err != nil {
		return err
	}
	if err := checkSetPos(opt); err != nil {
		return err
	}
	// With the two checks above the walk ends: at the first occurrence, or at rrule-go's
	// last year (9999) for filters that match no date, about a second for a daily rule.
	// UNTIL does not shorten it: rrule-go compares UNTIL only with occurrences it found.
	if _, ok := r.Iterator()(); !ok {
		if !opt.Until.IsZero() {
			return fmt.Errorf("RRULE:%s never fires: its BY… parts exclude every date before UNTIL", opt.RRuleString())
		}
		return fmt.Errorf("RRULE:%s never fires: its BY… parts exclude every date", opt.RRuleString())
	}
	return nil
}

// checkSetPos: BYSETPOS picks among the candidates of one period; positions beyond the
// most a period can hold match nothing, and a sub-daily rule would then be walked hour by
// hour to the year 9999.
func checkSetPos(opt rrule.ROption) error {
	if len(opt.Bysetpos) == 0 {
		return nil
	}
	times := 1
	for _, by := range [][]int{opt.Byhour, opt.Byminute, opt.Bysecond} {
		times *= max(len(by), 1)
	}
	days := map[rrule.Frequency]int{rrule.YEARLY: 366, rrule.MONTHLY: 31, rrule.WEEKLY: 7}[opt.Freq]
	size := max(days, 1) * times
	switch opt.Freq {
	case rrule.HOURLY:
		size = max(len(opt.Byminute), 1) * max(len(opt.Bysecond), 1)
	case rrule.MINUTELY:
		size = max(len(opt.Bysecond), 1)
	case rrule.SECONDLY:
		size = 1
	}
	for _, p := range opt.Bysetpos {
		if p <= size && p >= -size {
			return nil
		}
	}
	return fmt.Errorf("RRULE:%s never fires: BYSETPOS picks beyond the %d candidates a period has", opt.RRuleString(), size)
}

// checkGridReachable: for HOURLY, MINUTELY and SECONDLY rules rrule-go steps a wall-clock
// counter by INTERVAL from DTSTART and loops until the counter matches BYHOUR (and
// BYMINUTE, BYSECOND below their frequency). The counter only visits times of day
// congruent to DTSTART's modulo gcd(INTERVAL×unit, 1 day); if none of those matches,
// the library never returns.
func checkGridReachable(opt rrule.ROption, dt time.Time) error {
	var unit int
	switch opt.Freq {
	case rrule.HOURLY:
		unit = 3600
	case rrule.MINUTELY:
		unit = 60
	case rrule.SECONDLY:
		unit = 1
	default:
		return nil
	}
	if len(opt.Byhour) == 0 && (opt.Freq < rrule.MINUTELY || len(opt.Byminute) == 0) && (opt.Freq < rrule.SECONDLY || len(opt.Bysecond) == 0) {
		return nil
	}
	const day = 86400
	iv := max(opt.Interval, 1)
	g := gcd(iv*unit, day)
	start := (dt.Hour()*3600 + dt.Minute()*60 + dt.Second()) / unit * unit
	for x := start % g; x < day; x += g {
		if x%unit != 0 {
			continue
		}
		h, m, s := x/3600, x/60%60, x%60
		if len(opt.Byhour) > 0 && !containsInt(opt.Byhour, h) {
			continue
		}
		if opt.Freq >= rrule.MINUTELY && len(opt.Byminute) > 0 && !containsInt(opt.Byminute, m) {
			continue
		}
		if opt.Freq >= rrule.SECONDLY && len(opt.Bysecond) > 0 && !containsInt(opt.Bysecond, s) {
			continue
		}
		return nil
	}
	return fmt.Errorf("RRULE:%s never fires: stepping by INTERVAL=%d from DTSTART %s never reaches its BYHOUR/BYMINUTE/BYSECOND", opt.RRuleString(), iv, dt.Format("15:04:05"))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
