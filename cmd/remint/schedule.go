package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newScheduleCmd) }

func newScheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Rrule schedules with maintenance windows: list, show, next, history, create, enable, disable, delete",
		Long: `Schedules fire an action (build-image, rebuild, inplace, update) on a target by an RFC 5545
rrule, inside a maintenance window of 1 to 24 hours. The manifest's schedules: section
names them; "schedule create" adds more at run time (kept in the state store, fired by
remint serve without a restart; enable, disable, delete them). "schedule next" shows when
a schedule (or any rule) fires, so a rule can be checked before it is used. Each command
works on the manifest's state file, or through a daemon with --server URL.`,
	}
	cmd.AddCommand(newScheduleNextCmd(), newScheduleListCmd(), newScheduleHistoryCmd(), newScheduleCreateCmd(), newScheduleShowCmd(),
		newScheduleDeleteCmd(), newScheduleEnableCmd(true), newScheduleEnableCmd(false))
	return cmd
}

type scheduleNextOptions struct {
	file   string
	client clientOptions
	rrule  string
	window string
	after  string
	n      int
	output string
}

func newScheduleNextCmd() *cobra.Command {
	var o scheduleNextOptions
	cmd := &cobra.Command{
		Use:   "next NAME | --rrule RULE",
		Short: "Print the next runs of a schedule in UTC and in the rule's zone",
		Long: `Print the next runs of the manifest's schedule NAME, or of the rule given with --rrule,
each with the end of its maintenance window, in UTC and in the rule's zone (DTSTART's
TZID). Occurrences follow the zone's wall clock across daylight-saving changes: a run in
an hour the clock skips comes an hour later on the clock, once; a run in an hour the
clock repeats comes once. The window is real time (4h is 4 hours, whatever the clock does).

The one-line form works as written:
  DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA

Exit status: 0 with the runs (none when the rule has ended), 2 for a bad rule, window,
time or name.`,
		Example: `  remint schedule next weekend-web
  remint schedule next --rrule "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA" --window 4h
  remint schedule next weekly-db --after 2027-03-27T00:00:00Z -n 3 --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runScheduleNext(cmd.OutOrStdout(), name, o, time.Now())
		},
	}
	manifestFlag(cmd, &o.file)
	o.client.flags(cmd, "look NAME up through the daemon at this URL ($REMINT_SERVER)")
	cmd.Flags().StringVar(&o.rrule, "rrule", "", "an RFC 5545 rule to check instead of a schedule")
	cmd.Flags().StringVar(&o.window, "window", "", "maintenance window with --rrule: 1h to 24h, as a duration (4h) or hours (4); default 4h")
	cmd.Flags().StringVar(&o.after, "after", "", "list runs after this RFC 3339 time (default: now)")
	cmd.Flags().IntVarP(&o.n, "count", "n", 5, "how many runs, 1 to 1000")
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

// scheduleRef is a rule to show, from the manifest or the command line.
type scheduleRef struct {
	name, action, target string
	sched                *orchestrator.Schedule
}

func runScheduleNext(stdout io.Writer, name string, o scheduleNextOptions, now time.Time) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if o.n < 1 || o.n > 1000 {
		return usageErrorf("-n %d: want 1 to 1000", o.n)
	}
	after := now
	if o.after != "" {
		t, err := time.Parse(time.RFC3339, o.after)
		if err != nil {
			return usageErrorf("--after %q: want an RFC 3339 time such as 2026-11-28T00:00:00Z or 2026-11-28T02:00:00+02:00", o.after)
		}
		after = t
	}
	ref, err := scheduleToShow(name, o)
	if err != nil {
		return err
	}
	runs := ref.sched.Next(after, o.n)
	if o.output == "json" {
		return writeScheduleJSON(stdout, ref, after, runs)
	}
	printScheduleRuns(stdout, ref, after, runs)
	return nil
}

// scheduleToShow resolves NAME or --rrule; problems are usage errors.
func scheduleToShow(name string, o scheduleNextOptions) (scheduleRef, error) {
	switch {
	case name != "" && o.rrule != "":
		return scheduleRef{}, usageErrorf("give a schedule NAME or --rrule, not both")
	case name == "" && o.rrule == "":
		return scheduleRef{}, usageErrorf("give a schedule NAME of the manifest or --rrule RULE")
	case o.rrule != "":
		window := orchestrator.DefaultWindow
		if o.window != "" {
			w, err := parseWindow(o.window)
			if err != nil {
				return scheduleRef{}, err
			}
			window = w
		}
		s, err := orchestrator.ParseSchedule(o.rrule, window)
		if err != nil {
			return scheduleRef{}, usageErrorf("--rrule: %v", err)
		}
		return scheduleRef{sched: s}, nil
	}
	if o.window != "" {
		return scheduleRef{}, usageErrorf("--window goes with --rrule; schedule %s has its own window", name)
	}
	if o.client.server != "" {
		so := scheduleOptions{client: o.client, output: "text"}
		svc, closeFn, err := so.open(context.Background(), time.Now, false)
		if err != nil {
			return scheduleRef{}, err
		}
		defer closeFn()
		return runTimeRef(svc, name)
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return scheduleRef{}, err
	}
	sc, ok := m.Schedules[name]
	if !ok {
		so := scheduleOptions{file: o.file, output: "text"}
		svc, closeFn, err := so.open(context.Background(), time.Now, false)
		if err != nil {
			return scheduleRef{}, err
		}
		defer closeFn()
		if ref, err := runTimeRef(svc, name); err == nil {
			return ref, nil
		}
		names := m.ScheduleNames()
		if len(names) == 0 {
			return scheduleRef{}, usageErrorf("schedule %q: %s has no schedules", name, m.Path)
		}
		return scheduleRef{}, usageErrorf("schedule %q is not in %s (schedules: %s)", name, m.Path, strings.Join(names, ", "))
	}
	s, err := orchestrator.ParseSchedule(sc.RRule, sc.Window)
	if err != nil {
		return scheduleRef{}, usageErrorf("schedule %s: %v", name, err)
	}
	return scheduleRef{name: name, action: sc.Action, target: sc.Target, sched: s}, nil
}

// runTimeRef resolves a schedule by name through svc (the state store or a daemon).
func runTimeRef(svc orchestrator.Schedules, name string) (scheduleRef, error) {
	v, err := svc.GetSchedule(context.Background(), name)
	if err != nil {
		return scheduleRef{}, scheduleError(err)
	}
	s, err := orchestrator.ParseSchedule(v.RRule, time.Duration(v.WindowHours*float64(time.Hour)))
	if err != nil {
		return scheduleRef{}, usageErrorf("schedule %s: %v", name, err)
	}
	return scheduleRef{name: v.Name, action: v.Action, target: v.Target, sched: s}, nil
}

// parseWindow reads a window as a Go duration ("4h", "90m") or whole hours ("4").
func parseWindow(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		h, herr := strconv.Atoi(s)
		if herr != nil {
			return 0, usageErrorf("--window %q: want a duration such as 4h, or hours such as 4", s)
		}
		d = time.Duration(h) * time.Hour
	}
	if d < orchestrator.MinWindow || d > orchestrator.MaxWindow {
		// Echo what was typed ("40h", "40"), not the parsed duration ("40h0m0s").
		return 0, usageErrorf("--window %s: want 1h to 24h", s)
	}
	return d, nil
}

const (
	utcLayout   = "Mon 2006-01-02 15:04 UTC"
	localLayout = "Mon 2006-01-02 15:04 MST (-07:00)"
)

func printScheduleRuns(w io.Writer, ref scheduleRef, after time.Time, runs []orchestrator.Run) {
	s := ref.sched
	if ref.name != "" {
		fmt.Fprintf(w, "schedule %s: %s %s\n", ref.name, ref.action, ref.target)
	}
	fmt.Fprintf(w, "rule: %s\n", strings.Join(strings.Fields(s.Rule()), " "))
	fmt.Fprintf(w, "zone %s, window %s\n", s.Location(), fmtWindow(s.Window()))
	if len(runs) == 0 {
		fmt.Fprintf(w, "no runs after %s: the rule has ended\n", after.UTC().Format(time.RFC3339))
		return
	}
	fmt.Fprintf(w, "next %d after %s:\n", len(runs), after.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  #\tSTART (UTC)\tSTART (%s)\tWINDOW ENDS (UTC)\tWINDOW ENDS (%s)\n", s.Location(), s.Location())
	for i, r := range runs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", i+1, r.Start.UTC().Format(utcLayout), r.Start.Format(localLayout),
			r.End.UTC().Format(utcLayout), r.End.In(s.Location()).Format(localLayout))
	}
	tw.Flush()
}

// fmtWindow prints whole hours as "4h".
func fmtWindow(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// scheduleRunJSON is one run in --output json.
type scheduleRunJSON struct {
	Start      string `json:"start"`       // UTC, RFC 3339
	StartLocal string `json:"start_local"` // the rule's zone, RFC 3339 with offset
	End        string `json:"end"`
	EndLocal   string `json:"end_local"`
}

type scheduleNextJSON struct {
	Schedule    string            `json:"schedule,omitempty"`
	Action      string            `json:"action,omitempty"`
	Target      string            `json:"target,omitempty"`
	RRule       string            `json:"rrule"`
	Zone        string            `json:"zone"`
	WindowHours float64           `json:"window_hours"`
	After       string            `json:"after"`
	Runs        []scheduleRunJSON `json:"runs"`
}

func writeScheduleJSON(w io.Writer, ref scheduleRef, after time.Time, runs []orchestrator.Run) error {
	s := ref.sched
	doc := scheduleNextJSON{
		Schedule: ref.name, Action: ref.action, Target: ref.target, RRule: s.Rule(), Zone: s.Location().String(),
		WindowHours: s.Window().Hours(), After: after.UTC().Format(time.RFC3339), Runs: []scheduleRunJSON{},
	}
	for _, r := range runs {
		doc.Runs = append(doc.Runs, scheduleRunJSON{
			Start: r.Start.UTC().Format(time.RFC3339), StartLocal: r.Start.Format(time.RFC3339),
			End: r.End.UTC().Format(time.RFC3339), EndLocal: r.End.In(s.Location()).Format(time.RFC3339),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write schedule runs: %w", err)
	}
	return nil
}

type scheduleListOptions struct {
	file   string
	client clientOptions
	output string
}

func newScheduleListCmd() *cobra.Command {
	var o scheduleListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the manifest's and the run-time schedules with their next run",
		Long: `List every schedule: the manifest's (SOURCE manifest, no id) and those created at run time
(SOURCE runtime, with their id): action, target, window, zone, whether enabled and the
next run (UTC). --output json gives each with its next 5 runs.`,
		Example: `  remint schedule list
  remint schedule list --server http://127.0.0.1:8440 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScheduleList(cmd.OutOrStdout(), o, time.Now())
		},
	}
	manifestFlag(cmd, &o.file)
	o.client.flags(cmd, "act through the daemon at this URL ($REMINT_SERVER) instead of the local state file")
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runScheduleList(stdout io.Writer, o scheduleListOptions, now time.Time) error {
	so := scheduleOptions{file: o.file, client: o.client, output: o.output}
	svc, closeFn, err := so.open(context.Background(), func() time.Time { return now }, false)
	if err != nil {
		return err
	}
	defer closeFn()
	rows, err := svc.ListSchedules(context.Background(), "")
	if err != nil {
		return scheduleError(err)
	}
	if o.output == "json" {
		return writeJSONOut(stdout, map[string]any{"schedules": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no schedules (add them to the manifest's schedules: or with remint schedule create)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tID\tACTION\tTARGET\tWINDOW\tZONE\tENABLED\tNEXT (UTC)")
	for _, r := range rows {
		next := "ended"
		switch {
		case !r.Enabled:
			next = "-"
		case len(r.Next) > 0:
			next = r.Next[0].Start
		}
		id := "-"
		if r.ID > 0 {
			id = fmt.Sprint(r.ID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Source, id, r.Action, r.Target,
			fmtWindow(time.Duration(r.WindowHours*float64(time.Hour))), r.Zone, yesNo(r.Enabled), next)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
