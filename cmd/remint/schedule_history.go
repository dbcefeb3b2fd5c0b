package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/store"
)

func newScheduleHistoryCmd() *cobra.Command {
	var o scheduleOptions
	cmd := &cobra.Command{
		Use:   "history [NAME]",
		Short: "What became of each run the daemon handled: fired (with its job), missed or skipped, and why",
		Long: `Print the runs of the schedules (or of NAME: a manifest or run-time schedule, or a
deleted one whose runs stay) that remint serve handled, from
the state file: fired (the job it started), missed (its window closed while no daemon
was up) or skipped (the target was busy, or the action has no job kind yet), with the
reason. With --server URL the daemon answers (GET /v1/schedule-runs): the same output.`,
		Example: "  remint schedule history\n  remint schedule history weekend-web --output json\n  remint schedule history --server http://127.0.0.1:8440",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runScheduleHistory(cmd.Context(), cmd.OutOrStdout(), name, o)
		},
	}
	o.flags(cmd)
	return cmd
}

func runScheduleHistory(ctx context.Context, stdout io.Writer, name string, o scheduleOptions) error {
	svc, done, err := o.open(ctx, time.Now, false)
	if err != nil {
		return err
	}
	defer done()
	runs, err := svc.ScheduleHistory(ctx, name)
	if err != nil {
		return scheduleError(err)
	}
	if o.output == "json" {
		return writeJSONOut(stdout, map[string]any{"runs": runs})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tTARGET\tRUN START (UTC)\tOUTCOME\tJOB\tREASON")
	for _, r := range runs {
		job := "-"
		if r.Outcome == store.RunFired {
			job = fmt.Sprint(r.JobID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Schedule, r.Target, r.Start.UTC().Format("2006-01-02 15:04"), r.Outcome, job, r.Reason)
	}
	return tw.Flush()
}
