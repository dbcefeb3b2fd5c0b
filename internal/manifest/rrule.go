package manifest

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // TZID must work on hosts and images without a zoneinfo database

	"github.com/teambition/rrule-go"
)

// ParseRRule parses an RFC 5545 recurrence: a DTSTART line, then one RRULE and any RDATE or
// EXDATE lines. Properties may be separated by newlines (CRLF too), indentation or single
// spaces, so the one-line form
//
//	DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA
//
// works as written. Names and values are case-insensitive except the TZID zone name
// (Europe/Sofia); occurrences follow the zone's wall clock across DST changes.
//
// DTSTART is required: without it the rule would be anchored at whatever moment it was
// parsed, and its occurrences would move each time the daemon restarts.
func ParseRRule(s string) (*rrule.Set, error) {
	lines := normalizeRRule(s)
	if len(lines) == 0 {
		return nil, errors.New("empty rule")
	}
	name, value, err := property(lines[0])
	if err != nil {
		return nil, err
	}
	if name != "DTSTART" {
		return nil, fmt.Errorf("starts with %s: want DTSTART first, e.g. %q", name, exampleRRule)
	}
	if strings.HasPrefix(value, "TZID=Local:") {
		return nil, errors.New(`DTSTART: TZID=Local depends on the host's zone: name the zone, e.g. TZID=Europe/Sofia, or use UTC ("...Z")`)
	}
	var start time.Time
	if zone, rest, ok := splitTZID(value); ok {
		loc, lerr := loadZone(zone)
		if lerr != nil {
			return nil, fmt.Errorf("DTSTART %q: %w", value, tzError(lerr))
		}
		start, err = rrule.StrToDtStart(rest, loc)
	} else {
		start, err = rrule.StrToDtStart(value, time.UTC)
	}
	if err != nil {
		return nil, fmt.Errorf("DTSTART %q: %w", value, tzError(err))
	}
	loc := start.Location()
	set := &rrule.Set{}
	set.DTStart(start)
	rules := 0
	for _, line := range lines[1:] {
		name, value, err := property(line)
		if err != nil {
			return nil, err
		}
		switch name {
		case "RRULE":
			if rules++; rules > 1 {
				return nil, errors.New("more than one RRULE: want exactly one")
			}
			opt, err := rrule.StrToROptionInLocation(value, loc)
			if err != nil {
				return nil, fmt.Errorf("RRULE %q: %w", value, err)
			}
			if !opt.Dtstart.IsZero() {
				return nil, fmt.Errorf("RRULE %q: DTSTART goes on its own line before RRULE", value)
			}
			if strings.Contains(value, "INTERVAL=") && opt.Interval < 1 {
				return nil, fmt.Errorf("RRULE %q: INTERVAL must be >= 1", value)
			}
			if strings.Contains(value, "COUNT=") && opt.Count < 1 {
				return nil, fmt.Errorf("RRULE %q: COUNT must be >= 1", value)
			}
			if !opt.Until.IsZero() && opt.Until.Before(start) {
				return nil, fmt.Errorf("RRULE %q: UNTIL is before DTSTART: the rule never fires", value)
			}
			r, err := rrule.NewRRule(*opt)
			if err != nil {
				return nil, fmt.Errorf("RRULE %q: %w", value, err)
			}
			set.RRule(r)
		case "RDATE", "EXDATE":
			ts, err := rrule.StrToDatesInLoc(value, loc)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", name, value, tzError(err))
			}
			for _, t := range ts {
				if name == "RDATE" {
					set.RDate(t)
				} else {
					set.ExDate(t)
				}
			}
		case "DTSTART":
			return nil, errors.New("more than one DTSTART")
		case "EXRULE":
			return nil, errors.New("EXRULE is deprecated by RFC 5545 and not supported: list exclusions with EXDATE")
		default:
			return nil, fmt.Errorf("unknown property %s%s; allowed: DTSTART, RRULE, RDATE, EXDATE",
				name, didYouMean(name, []string{"DTSTART", "RRULE", "RDATE", "EXDATE"}))
		}
	}
	if rules == 0 && len(set.GetRDate()) == 0 {
		return nil, fmt.Errorf("no RRULE or RDATE after DTSTART, e.g. %q", exampleRRule)
	}
	if err := checkFires(set); err != nil {
		return nil, err
	}
	return set, nil
}

const exampleRRule = "DTSTART;TZID=Europe/Sofia:20240106T020000 RRULE:FREQ=WEEKLY;BYDAY=SA"

// normalizeRRule splits a rule into its property lines and upper-cases everything but
// TZID zone names, which are case-sensitive file names in the zone database.
func normalizeRRule(s string) []string {
	fields := strings.Fields(s)
	for i, f := range fields {
		fields[i] = upperExceptTZID(f)
	}
	return fields
}

func upperExceptTZID(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(strings.ToUpper(s), "TZID=")
		if i < 0 {
			b.WriteString(strings.ToUpper(s))
			return b.String()
		}
		b.WriteString(strings.ToUpper(s[:i+len("TZID=")]))
		s = s[i+len("TZID="):]
		end := strings.IndexAny(s, ":;")
		if end < 0 {
			end = len(s)
		}
		b.WriteString(s[:end])
		s = s[end:]
	}
}

// property splits "NAME;PARAMS:VALUE" or "NAME:VALUE" into the name and what follows it.
func property(line string) (name, rest string, err error) {
	i := strings.IndexAny(line, ";:")
	if i <= 0 || strings.Contains(line[:i], "=") {
		return "", "", fmt.Errorf("%q is not a property: want NAME:VALUE such as DTSTART:20240101T020000Z or RRULE:FREQ=MONTHLY", line)
	}
	return line[:i], line[i+1:], nil
}

// tzError rewrites rrule-go's unhelpful TZID errors.
func tzError(err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "unknown time zone") {
		return fmt.Errorf("%s: want an IANA zone name such as Europe/Sofia or UTC", msg)
	}
	return err
}
