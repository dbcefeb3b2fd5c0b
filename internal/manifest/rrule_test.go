package manifest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRRuleForms(t *testing.T) {
	t.Parallel()
	sofia, err := time.LoadLocation("Europe/Sofia")
	require.NoError(t, err)
	// Saturdays at 13:40 Sofia wall-clock time from 2020-08-03 (a Monday).
	want := []time.Time{
		time.Date(2020, 8, 8, 13, 40, 0, 0, sofia),
		time.Date(2020, 8, 15, 13, 40, 0, 0, sofia),
		time.Date(2020, 8, 22, 13, 40, 0, 0, sofia),
	}
	cases := map[string]string{
		"one line":           "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA",
		"two lines":          "DTSTART;TZID=Europe/Sofia:20200803T134000\nRRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA",
		"CRLF":               "DTSTART;TZID=Europe/Sofia:20200803T134000\r\nRRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA\r\n",
		"indented":           "\n    DTSTART;TZID=Europe/Sofia:20200803T134000\n    RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA\n",
		"tabs and spaces":    "\tDTSTART;TZID=Europe/Sofia:20200803T134000  \t RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA ",
		"lowercase":          "dtstart;tzid=Europe/Sofia:20200803t134000 rrule:freq=weekly;interval=1;byday=sa",
		"mixed case":         "Dtstart;Tzid=Europe/Sofia:20200803T134000 Rrule:Freq=Weekly;ByDay=Sa",
		"exdate keeps zones": "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA EXDATE;TZID=Europe/Sofia:20200801T134000",
	}
	for name, rule := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set, err := ParseRRule(rule)
			require.NoError(t, err)
			got := set.Between(time.Date(2020, 8, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 8, 23, 0, 0, 0, 0, time.UTC), true)
			require.Len(t, got, len(want))
			for i := range want {
				assert.True(t, want[i].Equal(got[i]), "occurrence %d: got %s, want %s", i, got[i], want[i])
			}
		})
	}
}

// TestParseRRuleDST checks that occurrences keep the zone's wall-clock time across both
// daylight-saving changes (Sofia: EEST +03:00 in summer, EET +02:00 in winter).
func TestParseRRuleDST(t *testing.T) {
	t.Parallel()
	set, err := ParseRRule("DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA")
	require.NoError(t, err)
	cases := []struct{ after, want string }{
		{"2020-10-20T00:00:00Z", "2020-10-24T13:40:00+03:00"}, // last Saturday of summer time
		{"2020-10-25T00:00:00Z", "2020-10-31T13:40:00+02:00"}, // first after the change back
		{"2021-03-22T00:00:00Z", "2021-03-27T13:40:00+02:00"}, // last in winter time
		{"2021-03-28T00:00:00Z", "2021-04-03T13:40:00+03:00"}, // first in summer time
	}
	for _, c := range cases {
		after, err := time.Parse(time.RFC3339, c.after)
		require.NoError(t, err)
		got := set.After(after, false)
		assert.Equal(t, c.want, got.Format(time.RFC3339), "after %s", c.after)
		assert.Equal(t, "13:40", got.Format("15:04"))
	}

	// A daily 03:30 rule across the spring-forward night (03:00 → 04:00 on 2021-03-28 in
	// Sofia, so 03:30 does not exist that day): the run is not lost, it comes at 04:30 EEST.
	daily, err := ParseRRule("DTSTART;TZID=Europe/Sofia:20210326T033000 RRULE:FREQ=DAILY")
	require.NoError(t, err)
	got := daily.Between(time.Date(2021, 3, 26, 0, 0, 0, 0, time.UTC), time.Date(2021, 3, 30, 0, 0, 0, 0, time.UTC), true)
	require.Len(t, got, 4)
	for i, want := range []string{"2021-03-26T01:30:00Z", "2021-03-27T01:30:00Z", "2021-03-28T01:30:00Z", "2021-03-29T00:30:00Z"} {
		assert.Equal(t, want, got[i].UTC().Format(time.RFC3339), "occurrence %d", i)
	}
}

func TestParseRRuleDefaultRelease(t *testing.T) {
	t.Parallel()
	set, err := ParseRRule(DefaultRelease)
	require.NoError(t, err)
	got := set.After(time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC), false)
	assert.Equal(t, time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), got)
}

func TestParseRRuleErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                       "empty rule",
		"   \n\t":                "empty rule",
		"RRULE:FREQ=WEEKLY":      `starts with RRULE: want DTSTART first, e.g. "DTSTART;TZID=Europe/Sofia:20240106T020000 RRULE:FREQ=WEEKLY;BYDAY=SA"`,
		"FREQ=WEEKLY;BYDAY=SA":   `"FREQ=WEEKLY;BYDAY=SA" is not a property: want NAME:VALUE such as DTSTART:20240101T020000Z or RRULE:FREQ=MONTHLY`,
		"DTSTART:20240101T0200Z": `DTSTART "20240101T0200Z": parsing time "20240101T0200Z" as "20060102T150405Z": cannot parse "Z" as "05"`,
		"DTSTART;TZID=Europe/Sofa:20240101T020000 RRULE:FREQ=DAILY":   `DTSTART "TZID=Europe/Sofa:20240101T020000": unknown time zone Europe/Sofa: want an IANA zone name such as Europe/Sofia or UTC`,
		"DTSTART;TZID=Local:20240101T020000 RRULE:FREQ=DAILY":         "DTSTART: TZID=Local depends on the host's zone: name the zone, e.g. TZID=Europe/Sofia, or use UTC (\"...Z\")",
		"DTSTART:20240101T020000Z":                                    `no RRULE or RDATE after DTSTART, e.g. "DTSTART;TZID=Europe/Sofia:20240106T020000 RRULE:FREQ=WEEKLY;BYDAY=SA"`,
		"DTSTART:20240101T020000Z RRULE:FREQ=FORTNIGHTLY":             `RRULE "FREQ=FORTNIGHTLY": undefined frequency: FORTNIGHTLY`,
		"DTSTART:20240101T020000Z RRULE:FREQ=DAILY;BYHOUR=25":         `RRULE "FREQ=DAILY;BYHOUR=25": byhour must be between 0 and 23`,
		"DTSTART:20240101T020000Z RRULE:FREQ=DAILY;INTERVAL=0":        `RRULE "FREQ=DAILY;INTERVAL=0": INTERVAL must be >= 1`,
		"DTSTART:20240101T020000Z RRULE:FREQ=DAILY;COUNT=0":           `RRULE "FREQ=DAILY;COUNT=0": COUNT must be >= 1`,
		"DTSTART:20240101T020000Z RRULE:FREQ=DAILY;UNTIL=20231231":    `RRULE "FREQ=DAILY;UNTIL=20231231": UNTIL is before DTSTART: the rule never fires`,
		"DTSTART:20240101T020000Z RRULE:FREQ=DAILY RRULE:FREQ=WEEKLY": "more than one RRULE: want exactly one",
		"DTSTART:20240101T020000Z DTSTART:20240101T020000Z":           "more than one DTSTART",
		"DTSTART:20240101T020000Z RULE:FREQ=DAILY":                    "unknown property RULE (did you mean \"RRULE\"?); allowed: DTSTART, RRULE, RDATE, EXDATE",
		"DTSTART:20240101T020000Z EXRULE:FREQ=DAILY":                  "EXRULE is deprecated by RFC 5545 and not supported: list exclusions with EXDATE",
	}
	for rule, want := range cases {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			set, err := ParseRRule(rule)
			assert.Nil(t, set)
			assert.EqualError(t, err, want)
		})
	}
}

func TestParseRRuleRDateOnly(t *testing.T) {
	t.Parallel()
	set, err := ParseRRule("DTSTART;TZID=Europe/Sofia:20240101T020000 RDATE;TZID=Europe/Sofia:20240301T020000")
	require.NoError(t, err)
	got := set.After(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), false)
	assert.Equal(t, "2024-03-01T00:00:00Z", got.UTC().Format(time.RFC3339))
}

// TestParseRRuleNeverFires: rules rrule-go would search forever (or to the year 9999) for a
// next occurrence are refused, so a scheduler never hangs on them.
func TestParseRRuleNeverFires(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		// 09:00 + 4h steps: 09, 13, 17, 21, 01, 05 — never 02.
		"DTSTART;TZID=Europe/Berlin:20290305T090000 RRULE:FREQ=HOURLY;INTERVAL=4;BYHOUR=2": "never fires: stepping by INTERVAL=4 from DTSTART 09:00:00 never reaches its BYHOUR/BYMINUTE/BYSECOND",
		"DTSTART:20240101T000000Z RRULE:FREQ=MINUTELY;INTERVAL=2;BYMINUTE=1,3":             "never fires: stepping by INTERVAL=2",
		// One candidate per hour: the second never exists.
		"DTSTART:20240101T000000Z RRULE:FREQ=HOURLY;BYSETPOS=2":                      "never fires: BYSETPOS picks beyond the 1 candidates a period has",
		"DTSTART:20240101T000000Z RRULE:FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30":        "never fires: its BY… parts exclude every date",
		"DTSTART:20240101T000000Z RRULE:FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31":          "never fires: its BY… parts exclude every date",
		"DTSTART:20240101T000000Z RRULE:FREQ=DAILY;BYMONTH=4;UNTIL=20240301T000000Z": "never fires: its BY… parts exclude every date before UNTIL",
	}
	for rule, want := range cases {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRRule(rule)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
	// Rare but real rules still parse: 29 February falling on a Monday.
	_, err := ParseRRule("DTSTART:20240101T000000Z RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
	require.NoError(t, err)
	_, err = ParseRRule("DTSTART:20240101T010000Z RRULE:FREQ=HOURLY;INTERVAL=4;BYHOUR=5,13")
	require.NoError(t, err)
}
