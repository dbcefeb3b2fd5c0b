package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/store"
)

type runView struct {
	Schedule string    `json:"schedule"`
	Target   string    `json:"target"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Outcome  string    `json:"outcome"`
	JobID    int64     `json:"job_id,omitempty"`
	Reason   string    `json:"reason"`
	Recorded time.Time `json:"recorded"`
}

func newScheduleHistoryCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "history [NAME]",
		Short: "What became of each run the daemon handled: fired (with its job), missed or skipped, and why",
		Long: `Print the runs of the schedules (or of NAME: a manifest or run-time schedule, or a
deleted one whose runs stay) that remint serve handled, from
the state file: fired (the job it started), missed (its window closed while no daemon
was up) or skipped (the target was busy, or the action has no job kind yet), with the
reason.`,
		Example: "  remint schedule history\n  remint schedule history weekend-web --output json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			m, err := loadManifest(file)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			st, err := openStore(cmd.Context(), m)
			if err != nil {
				return err
			}
			defer st.Close()
			runs, err := st.ScheduleRuns(cmd.Context(), name)
			if err != nil {
				return err
			}
			if _, ok := m.Schedules[name]; name != "" && !ok && len(runs) == 0 {
				// A run-time schedule (or a deleted one, whose runs stay) is fine too.
				if _, err := st.ScheduleByName(cmd.Context(), name); err != nil {
					return usageErrorf("schedule %q is not in %s nor created at run time, and has no recorded runs", name, m.Path)
				}
			}
			views := make([]runView, 0, len(runs))
			for _, r := range runs {
				views = append(views, runView{r.Schedule, r.Target, r.Start, r.End, r.Outcome, r.JobID, r.Reason, r.Recorded})
			}
			if output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), map[string]any{"runs": views})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SCHEDULE\tTARGET\tRUN START (UTC)\tOUTCOME\tJOB\tREASON")
			for _, r := range runs {
				job := "-"
				if r.Outcome == store.RunFired {
					job = fmt.Sprint(r.JobID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Schedule, r.Target, r.Start.UTC().Format("2006-01-02 15:04"), r.Outcome, job, r.Reason)
			}
			return tw.Flush()
		},
	}
	manifestFlag(cmd, &file)
	outputFlag(cmd, &output, "text", "json")
	return cmd
}
