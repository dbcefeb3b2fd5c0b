package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/orchestrator"
)

const sofiaSaturdays = "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA"

func TestScheduleNextRRule(t *testing.T) {
	stdout, stderr, err := validateRun(t, "schedule", "next", "--rrule", sofiaSaturdays, "--after", "2026-10-20T00:00:00Z", "-n", "3", "--window", "4")
	require.NoError(t, err)
	assert.Empty(t, stderr)
	assert.Equal(t, `rule: DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA
zone Europe/Sofia, window 4h
next 3 after 2026-10-20T00:00:00Z:
  #  START (UTC)               START (Europe/Sofia)                WINDOW ENDS (UTC)         WINDOW ENDS (Europe/Sofia)
  1  Sat 2026-10-24 10:40 UTC  Sat 2026-10-24 13:40 EEST (+03:00)  Sat 2026-10-24 14:40 UTC  Sat 2026-10-24 17:40 EEST (+03:00)
  2  Sat 2026-10-31 11:40 UTC  Sat 2026-10-31 13:40 EET (+02:00)   Sat 2026-10-31 15:40 UTC  Sat 2026-10-31 17:40 EET (+02:00)
  3  Sat 2026-11-07 11:40 UTC  Sat 2026-11-07 13:40 EET (+02:00)   Sat 2026-11-07 15:40 UTC  Sat 2026-11-07 17:40 EET (+02:00)
`, stdout)
}

func TestScheduleNextJSON(t *testing.T) {
	stdout, _, err := validateRun(t, "schedule", "next", "weekly-db", "-f", "../../examples/remint.yaml", "--after", "2027-03-20T00:00:00+02:00", "-n", "2", "--output", "json")
	require.NoError(t, err)
	var doc scheduleNextJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	assert.Equal(t, scheduleNextJSON{
		Schedule: "weekly-db", Action: "inplace", Target: "db",
		RRule: "DTSTART;TZID=Europe/Sofia:20240106T230000 RRULE:FREQ=WEEKLY;BYDAY=SA", Zone: "Europe/Sofia", WindowHours: 2,
		After: "2027-03-19T22:00:00Z",
		Runs: []scheduleRunJSON{
			{Start: "2027-03-20T21:00:00Z", StartLocal: "2027-03-20T23:00:00+02:00", End: "2027-03-20T23:00:00Z", EndLocal: "2027-03-21T01:00:00+02:00"},
			// The night of the spring change (03:00 on the 28th): the window ends before it.
			{Start: "2027-03-27T21:00:00Z", StartLocal: "2027-03-27T23:00:00+02:00", End: "2027-03-27T23:00:00Z", EndLocal: "2027-03-28T01:00:00+02:00"},
		},
	}, doc)
}

// TestScheduleNextWindowAcrossDST: a 6h window from 23:00 on the night Sofia springs
// forward ends at 06:00 EEST, six real hours later.
func TestScheduleNextWindowAcrossDST(t *testing.T) {
	stdout, _, err := validateRun(t, "schedule", "next", "--rrule", "DTSTART;TZID=Europe/Sofia:20240106T230000 RRULE:FREQ=WEEKLY;BYDAY=SA",
		"--window", "6h", "--after", "2027-03-27T00:00:00Z", "-n", "1", "-o", "json")
	require.NoError(t, err)
	var doc scheduleNextJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.Len(t, doc.Runs, 1)
	assert.Equal(t, scheduleRunJSON{Start: "2027-03-27T21:00:00Z", StartLocal: "2027-03-27T23:00:00+02:00", End: "2027-03-28T03:00:00Z", EndLocal: "2027-03-28T06:00:00+03:00"}, doc.Runs[0])
	assert.Empty(t, doc.Schedule, "a --rrule has no name")
}

func TestScheduleNextEnded(t *testing.T) {
	stdout, _, err := validateRun(t, "schedule", "next", "--rrule", "DTSTART:20240101T020000Z RRULE:FREQ=DAILY;COUNT=2", "--after", "2026-01-01T00:00:00Z", "-o", "json")
	require.NoError(t, err)
	assert.Contains(t, stdout, `"runs": []`)
	stdout, _, err = validateRun(t, "schedule", "next", "--rrule", "DTSTART:20240101T020000Z RRULE:FREQ=DAILY;COUNT=2", "--after", "2026-01-01T00:00:00Z")
	require.NoError(t, err)
	assert.Contains(t, stdout, "no runs after 2026-01-01T00:00:00Z: the rule has ended\n")
}

func TestScheduleNextUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--rrule", "RRULE:FREQ=WEEKLY"}, "--rrule: rrule: starts with RRULE: want DTSTART first"},
		{[]string{"--rrule", "DTSTART;TZID=Europe/Sofa:20240101T020000 RRULE:FREQ=DAILY"}, "unknown time zone Europe/Sofa"},
		{[]string{"--rrule", "DTSTART:20240101T090000Z RRULE:FREQ=HOURLY;INTERVAL=4;BYHOUR=2"}, "never fires"},
		{[]string{"--rrule", sofiaSaturdays, "--window", "30m"}, "--window 30m: want 1h to 24h"},
		{[]string{"--rrule", sofiaSaturdays, "--window", "40h"}, "--window 40h: want 1h to 24h"},
		{[]string{"--rrule", sofiaSaturdays, "--window", "40"}, "--window 40: want 1h to 24h"},
		{[]string{"--rrule", sofiaSaturdays, "--window", "soon"}, `--window "soon": want a duration such as 4h, or hours such as 4`},
		{[]string{"--rrule", sofiaSaturdays, "--after", "tomorrow"}, `--after "tomorrow": want an RFC 3339 time`},
		{[]string{"--rrule", sofiaSaturdays, "-n", "0"}, "-n 0: want 1 to 1000"},
		{[]string{"--rrule", sofiaSaturdays, "-o", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"weekly-db", "--rrule", sofiaSaturdays, "-f", "../../examples/remint.yaml"}, "give a schedule NAME or --rrule, not both"},
		{nil, "give a schedule NAME of the manifest or --rrule RULE"},
		{[]string{"weekly-dbb", "-f", "../../examples/remint.yaml"}, `schedule "weekly-dbb" is not in ../../examples/remint.yaml (schedules: monthly-images, weekend-web, weekly-db)`},
		{[]string{"weekly-db", "--window", "4h", "-f", "../../examples/remint.yaml"}, "--window goes with --rrule"},
		{[]string{"weekly-db", "-f", "no-such-remint.yaml"}, "manifest no-such-remint.yaml not found"},
	}
	for _, c := range cases {
		_, _, err := validateRun(t, append([]string{"schedule", "next"}, c.args...)...)
		require.Error(t, err, "%v", c.args)
		assert.Equal(t, exitUsage, validateExitCode(err), "%v: %v", c.args, err)
		assert.Contains(t, err.Error(), c.want, "%v", c.args)
	}
}

func TestScheduleList(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	require.NoError(t, runScheduleList(&out, scheduleListOptions{file: "../../examples/remint.yaml", output: "text"}, now))
	assert.Equal(t, `NAME            SOURCE    ID  ACTION       TARGET     WINDOW  ZONE          ENABLED  NEXT (UTC)
monthly-images  manifest  -   build-image  debian-12  4h      Europe/Sofia  yes      2026-12-05T00:00:00Z
weekend-web     manifest  -   rebuild      web        4h      Europe/Sofia  yes      2026-11-29T01:00:00Z
weekly-db       manifest  -   inplace      db         2h      Europe/Sofia  yes      2026-11-28T21:00:00Z
`, out.String())

	out.Reset()
	require.NoError(t, runScheduleList(&out, scheduleListOptions{file: "../../examples/remint.yaml", output: "json"}, now))
	var doc struct {
		Schedules []orchestrator.ScheduleView `json:"schedules"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	rows := doc.Schedules
	require.Len(t, rows, 3)
	assert.Equal(t, "2026-11-29T01:00:00Z", rows[1].Next[0].Start)
	assert.Equal(t, orchestrator.SourceManifest, rows[1].Source)

	_, _, err := validateRun(t, "schedule", "list", "-f", "../../examples/remint.yaml")
	require.NoError(t, err)
}
