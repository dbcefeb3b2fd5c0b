package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// manifestTargets tells the schedule book which families and groups the manifest has.
type manifestTargets struct{ m *manifest.Manifest }

func (t manifestTargets) FamilyNames() []string { return t.m.FamilyNames() }
func (t manifestTargets) GroupNames() []string  { return t.m.GroupNames() }
func (t manifestTargets) Replaceable(group string) bool {
	g, ok := t.m.Groups[group]
	return ok && g.IsReplaceable()
}

// scheduleService is the manifest's and the state store's schedules, for the CLI and
// for remint serve's API.
func scheduleService(m *manifest.Manifest, st *store.Store, now func() time.Time, changed func()) *orchestrator.ScheduleService {
	var static []orchestrator.ManifestSchedule
	for _, name := range m.ScheduleNames() {
		s := m.Schedules[name]
		static = append(static, orchestrator.ManifestSchedule{Name: name, RRule: s.RRule, Window: s.Window, Action: s.Action, Target: s.Target, Options: s.Options})
	}
	return &orchestrator.ScheduleService{
		Book:     &orchestrator.ScheduleBook{Store: st, Static: m.ScheduleNames(), Targets: manifestTargets{m}, Now: now, Changed: changed},
		Manifest: static,
	}
}

// scheduleOptions are the flags of the schedule commands that read or change schedules:
// locally on the manifest's state, or through a daemon with --server.
type scheduleOptions struct {
	file   string
	output string
	// client is the daemon's token and CA (flags where registered, else $REMINT_TOKEN and
	// $REMINT_CA_CERT).
	client clientOptions
}

func (o *scheduleOptions) flags(cmd *cobra.Command) {
	manifestFlag(cmd, &o.file)
	o.client.flags(cmd, "act through the daemon at this URL ($REMINT_SERVER) instead of the local state file")
	outputFlag(cmd, &o.output, "text", "json")
}

// open returns the schedules: through the daemon with --server, else on the state file.
// Reading (list, show, next) does not create a missing SQLite state file: there are no
// run-time schedules yet, only the manifest's.
func (o *scheduleOptions) open(ctx context.Context, now func() time.Time, write bool) (orchestrator.Schedules, func(), error) {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return nil, nil, err
	}
	if o.client.server != "" {
		c, err := o.client.client()
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return nil, nil, err
	}
	var st *store.Store
	if _, statErr := os.Stat(m.StatePath()); !write && !m.StateIsPostgres() && errors.Is(statErr, os.ErrNotExist) {
		st, err = store.Open(ctx, ":memory:")
	} else {
		st, err = openStore(ctx, m)
	}
	if err != nil {
		return nil, nil, err
	}
	return scheduleService(m, st, now, nil), func() { st.Close() }, nil
}

// scheduleError makes bad input and unknown schedules usage errors (exit 2).
func scheduleError(err error) error {
	var bad orchestrator.BadRequestError
	if errors.As(err, &bad) || errors.Is(err, store.ErrScheduleNotFound) || errors.Is(err, orchestrator.ErrManifestSchedule) {
		return usageError{err}
	}
	return err
}

func newScheduleCreateCmd() *cobra.Command {
	var o scheduleOptions
	var req orchestrator.ScheduleRequest
	var window string
	var disabled bool
	cmd := &cobra.Command{
		Use:   "create NAME --rrule RULE --window H --action ACTION --target TARGET",
		Short: "Create a run-time schedule (kept in the state store; the daemon fires it without a restart)",
		Long: `Create a schedule at run time, beside the manifest's: it fires ACTION (build-image, rebuild,
inplace, update) on TARGET (a family for build-image, a group otherwise) at each run of
the RFC 5545 rule, inside a maintenance window of 1 to 24 hours. remint serve picks it up
within seconds (at once when created through it with --server). The name must not be a
manifest schedule's. Options apply to inplace and update.

Exit status: 0 created, 2 for bad input (the reason names the field and what is allowed).`,
		Example: `  remint schedule create sat-db --rrule "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA" \
      --window 4h --action update --target db --apply-security-upgrades --reboot-if-required
  remint schedule create nightly-web --rrule "DTSTART:20260101T020000Z RRULE:FREQ=DAILY" --window 2 \
      --action rebuild --target web --disabled --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := parseWindow(window)
			if err != nil {
				return err
			}
			req.Name, req.WindowHours, req.By = args[0], w.Hours(), "cli"
			enabled := !disabled
			req.Enabled = &enabled
			svc, closeFn, err := o.open(cmd.Context(), time.Now, true)
			if err != nil {
				return err
			}
			defer closeFn()
			v, err := svc.CreateSchedule(cmd.Context(), req)
			if err != nil {
				return scheduleError(err)
			}
			return printSchedule(cmd.OutOrStdout(), o.output, v, "created")
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&req.RRule, "rrule", "", "RFC 5545 rule, e.g. \"DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA\" (required)")
	cmd.Flags().StringVar(&window, "window", "4h", "maintenance window: 1h to 24h, as a duration (4h) or hours (4)")
	cmd.Flags().StringVar(&req.Action, "action", "", "build-image, rebuild, inplace or update (required)")
	cmd.Flags().StringVar(&req.Target, "target", "", "a family (build-image) or a group (required)")
	cmd.Flags().StringVar(&req.Description, "description", "", "what the schedule is for")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "create it disabled (it fires once enabled)")
	cmd.Flags().BoolVar(&req.Options.ApplySecurityUpgrades, "apply-security-upgrades", false, "inplace/update: install security upgrades")
	cmd.Flags().BoolVar(&req.Options.RebootIfRequired, "reboot-if-required", false, "inplace/update: reboot when an upgrade needs it")
	cmd.Flags().BoolVar(&req.Options.ApplyDockerUpgrades, "apply-docker-upgrades", false, "inplace/update: upgrade Docker")
	cmd.Flags().BoolVar(&req.Options.ApplyWeaveUpgrades, "apply-weave-upgrades", false, "inplace/update: upgrade Weave")
	return cmd
}

func newScheduleShowCmd() *cobra.Command {
	var o scheduleOptions
	cmd := &cobra.Command{
		Use:     "show NAME|ID",
		Short:   "Show a schedule (manifest or run-time) with its next 5 runs",
		Example: "  remint schedule show sat-db\n  remint schedule show 3 --output json --server http://127.0.0.1:8440",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, closeFn, err := o.open(cmd.Context(), time.Now, false)
			if err != nil {
				return err
			}
			defer closeFn()
			v, err := svc.GetSchedule(cmd.Context(), args[0])
			if err != nil {
				return scheduleError(err)
			}
			return printSchedule(cmd.OutOrStdout(), o.output, v, "")
		},
	}
	o.flags(cmd)
	return cmd
}

func newScheduleDeleteCmd() *cobra.Command {
	var o scheduleOptions
	cmd := &cobra.Command{
		Use:   "delete NAME|ID",
		Short: "Delete a run-time schedule (its recorded runs stay in the history)",
		Long: `Delete a schedule created at run time: it stops firing (a job it started runs on). What
it did stays in "remint schedule history". Manifest schedules are changed in the manifest.`,
		Example: "  remint schedule delete sat-db",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, closeFn, err := o.open(cmd.Context(), time.Now, true)
			if err != nil {
				return err
			}
			defer closeFn()
			if err := svc.DeleteSchedule(cmd.Context(), args[0]); err != nil {
				return scheduleError(err)
			}
			if o.output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schedule %s deleted (its recorded runs stay: remint schedule history)\n", args[0])
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func newScheduleEnableCmd(enable bool) *cobra.Command {
	var o scheduleOptions
	verb := "disable"
	short := "Disable a run-time schedule: it is kept and shown but does not fire"
	if enable {
		verb = "enable"
		short = "Enable a run-time schedule: it fires from its next run on (runs while disabled are not caught up)"
	}
	cmd := &cobra.Command{
		Use:     verb + " NAME|ID",
		Short:   short,
		Example: "  remint schedule " + verb + " sat-db",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, closeFn, err := o.open(cmd.Context(), time.Now, true)
			if err != nil {
				return err
			}
			defer closeFn()
			v, err := svc.SetScheduleEnabled(cmd.Context(), args[0], enable)
			if err != nil {
				return scheduleError(err)
			}
			return printSchedule(cmd.OutOrStdout(), o.output, v, verb+"d")
		},
	}
	o.flags(cmd)
	return cmd
}

func printSchedule(w io.Writer, output string, v orchestrator.ScheduleView, done string) error {
	if output == "json" {
		return writeJSONOut(w, v)
	}
	id := "manifest"
	if v.Source == orchestrator.SourceRunTime {
		id = fmt.Sprintf("id %d", v.ID)
	}
	state := "enabled"
	if !v.Enabled {
		state = "disabled"
	}
	if done != "" {
		fmt.Fprintf(w, "schedule %s %s (%s)\n", v.Name, done, id)
	} else {
		fmt.Fprintf(w, "schedule %s (%s)\n", v.Name, id)
	}
	fmt.Fprintf(w, "  %s %s, %s\n", v.Action, v.Target, state)
	fmt.Fprintf(w, "  rule: %s\n", strings.Join(strings.Fields(v.RRule), " "))
	fmt.Fprintf(w, "  zone %s, window %s\n", v.Zone, fmtWindow(time.Duration(v.WindowHours*float64(time.Hour))))
	var opts orchestrator.Options
	if err := json.Unmarshal(v.Options, &opts); err != nil {
		return fmt.Errorf("schedule %s: options %s: %w", v.Name, v.Options, err)
	}
	fmt.Fprintf(w, "  options: %s\n", opts)
	if v.Description != "" {
		fmt.Fprintf(w, "  description: %s\n", v.Description)
	}
	if v.CreatedBy != "" && v.Created != nil {
		fmt.Fprintf(w, "  created by %s at %s\n", v.CreatedBy, v.Created.UTC().Format(time.RFC3339))
	}
	if len(v.Next) == 0 {
		if v.Enabled {
			fmt.Fprintln(w, "  no next runs: the rule has ended")
		} else {
			fmt.Fprintln(w, "  no next runs while disabled")
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  next\tSTART (UTC)\tSTART (%s)\tWINDOW ENDS (UTC)\n", v.Zone)
	for i, r := range v.Next {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", i+1, r.Start, r.StartLocal, r.End)
	}
	return tw.Flush()
}
