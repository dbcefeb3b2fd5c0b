package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newJobCmd) }

type jobOptions struct {
	file   string
	output string
	client clientOptions
}

func (o *jobOptions) flags(cmd *cobra.Command) {
	manifestFlag(cmd, &o.file)
	o.client.flags(cmd, "act through the daemon at this URL ($REMINT_SERVER) instead of the local state file")
	outputFlag(cmd, &o.output, "text", "json")
}

// open returns the jobs: through the daemon with --server, else on the state file.
func (o *jobOptions) open(ctx context.Context, stderr io.Writer) (orchestrator.Jobs, func(), error) {
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
	env, err := openJobs(ctx, o.file, stderr, nil, 0)
	if err != nil {
		return nil, nil, err
	}
	return orchestrator.Local{Queue: env.queue}, env.Close, nil
}

func newJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Durable jobs: list, show, submit, cancel, retry",
		Long: `Every action the daemon runs is a durable job with an id, kind, target, status (queued,
running, succeeded, failed, cancelled), start and end, installed/failed counts, failure
reason, decision reasons and an event log. These commands work on the manifest's state
file directly, or through a daemon with --server URL. One unfinished job per target.

Kinds: rebuild (a group), retire-kept (a group's old servers whose keep-old time is
over), image-retention and build-image (an image family), inplace and update (a group),
emergency (the emergency security rollout of "all" groups or of groups named "web,db").`,
	}
	cmd.AddCommand(newJobListCmd(), newJobShowCmd(), newJobSubmitCmd(), newJobActionCmd("cancel"), newJobActionCmd("retry"))
	return cmd
}

func newJobListCmd() *cobra.Command {
	var o jobOptions
	var status string
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List jobs, newest first",
		Example: "  remint job list\n  remint job list --status failed --output json\n  remint job list --server http://127.0.0.1:8440",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return usageErrorf("--limit %d: want at least 1", limit)
			}
			jobs, closeFn, err := o.open(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			list, err := jobs.List(cmd.Context(), orchestrator.ListOptions{Status: status, Limit: limit})
			if err != nil {
				return jobError(err)
			}
			if o.output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), map[string]any{"jobs": list})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tTARGET\tSTATUS\tSTARTED (UTC)\tENDED (UTC)\tINSTALLED\tFAILED\tBY\tREASON")
			for _, j := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", j.ID, j.Kind, j.Target, j.Status, fmtJobTime(j.Started), fmtJobTime(j.Ended),
					j.Installed, j.Failed, orDash(j.RequestedBy), orDash(shortReason(j.Reason)))
			}
			return tw.Flush()
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&status, "status", "", "only jobs with this status: queued, running, succeeded, failed, cancelled")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")
	return cmd
}

func newJobShowCmd() *cobra.Command {
	var o jobOptions
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a job: status, counts, decisions, rollouts and its event log",
		Example: "  remint job show 12\n  remint job show 12 --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			jobs, closeFn, err := o.open(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			j, err := jobs.Get(cmd.Context(), id)
			if err != nil {
				return jobError(err)
			}
			return printJob(cmd.OutOrStdout(), o.output, j, true)
		},
	}
	o.flags(cmd)
	return cmd
}

func newJobSubmitCmd() *cobra.Command {
	var o jobOptions
	var image string
	var force bool
	var keep int
	var onlyIfChanged bool
	var ip orchestrator.InPlaceOptions
	var em orchestrator.EmergencyJobOptions
	cmd := &cobra.Command{
		Use:   "submit KIND TARGET",
		Short: "Queue a job (the daemon works it)",
		Long: `Queue a job of KIND on TARGET for the daemon (remint serve) to work; one unfinished job
per target. KIND and its TARGET:

  rebuild, inplace, update         a group, or one slot of it (GROUP/SLOT)
  rollback, retire-kept            a group
  build-image, image-retention     an image family
  emergency                        all, or a comma-separated list of groups

The flags named after a kind apply to it only.`,
		Example: `  remint job submit rebuild web --image latest
  remint job submit image-retention debian-12 --keep 2 --server http://127.0.0.1:8440
  remint job submit inplace db --apply-security-upgrades --reboot-if-required
  remint job submit update web --apply-security-upgrades
  remint job submit emergency all --reason "CVE-2026-1234 in openssl"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := map[string]any{}
			if image != "" {
				opts["image"] = image
			}
			if force {
				opts["force"] = true
			}
			if cmd.Flags().Changed("keep") {
				opts["keep"] = keep
			}
			if onlyIfChanged {
				opts["only_if_changed"] = true
			}
			for flag, key := range map[string]string{"apply-security-upgrades": "apply_security_upgrades", "reboot-if-required": "reboot_if_required",
				"apply-docker-upgrades": "apply_docker_upgrades", "apply-weave-upgrades": "apply_weave_upgrades"} {
				if on, _ := cmd.Flags().GetBool(flag); on {
					opts[key] = true
				}
			}
			if ip.Reboot != "" {
				opts["reboot"] = ip.Reboot
			}
			if em.Reason != "" {
				opts["reason"] = em.Reason
			}
			if cmd.Flags().Changed("concurrency") {
				opts["concurrency"] = em.Concurrency
			}
			raw, _ := json.Marshal(opts) // a map of strings, bools and ints always marshals
			jobs, closeFn, err := o.open(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			j, err := jobs.Insert(cmd.Context(), orchestrator.JobRequest{Kind: args[0], Target: args[1], Options: raw, RequestedBy: "cli"})
			if err != nil {
				return jobError(err)
			}
			return printJob(cmd.OutOrStdout(), o.output, j, false)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&image, "image", "", "rebuild: target image version, latest or YYYY.MM.N")
	cmd.Flags().BoolVar(&force, "force", false, "rebuild: replace servers already on the target image too; inplace: patch a group the policy would rebuild")
	cmd.Flags().IntVar(&keep, "keep", 0, "image-retention: versions to keep (default: the family's retention)")
	cmd.Flags().BoolVar(&onlyIfChanged, "only-if-changed", false, "build-image: skip the build when nothing changed since the active version")
	cmd.Flags().BoolVar(&ip.ApplySecurityUpgrades, "apply-security-upgrades", false, "inplace, update: install pending security updates")
	cmd.Flags().BoolVar(&ip.RebootIfRequired, "reboot-if-required", false, "inplace, update: reboot servers that need it (otherwise never)")
	cmd.Flags().BoolVar(&ip.ApplyDockerUpgrades, "apply-docker-upgrades", false, "inplace, update: upgrade docker.io to the family's pinned version")
	cmd.Flags().BoolVar(&ip.ApplyWeaveUpgrades, "apply-weave-upgrades", false, "inplace, update: upgrade Weave Net to the family's pinned script")
	cmd.Flags().StringVar(&ip.Reboot, "reboot", "", "inplace, update: reboot policy never, if-required or always (overrides --reboot-if-required)")
	cmd.Flags().StringVar(&em.Reason, "reason", "", "emergency: why (a CVE, a ticket), recorded in the job and on a built image")
	cmd.Flags().IntVar(&em.Concurrency, "concurrency", 0, "emergency: targets at once (default 4)")
	return cmd
}

func newJobActionCmd(action string) *cobra.Command {
	var o jobOptions
	short := map[string]string{
		"cancel": "Cancel a job: a queued one never runs; a running one stops after its current step",
		"retry":  "Queue a finished (failed, cancelled or succeeded) job to run again",
	}[action]
	cmd := &cobra.Command{
		Use:     action + " ID",
		Short:   short,
		Example: fmt.Sprintf("  remint job %s 12", action),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			jobs, closeFn, err := o.open(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			var j orchestrator.Job
			if action == "cancel" {
				j, err = jobs.Cancel(cmd.Context(), id)
			} else {
				j, err = jobs.Retry(cmd.Context(), id)
			}
			if err != nil {
				return jobError(err)
			}
			return printJob(cmd.OutOrStdout(), o.output, j, false)
		},
	}
	o.flags(cmd)
	return cmd
}

func parseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usageErrorf("job id %q: want a positive number (remint job list shows them)", s)
	}
	return id, nil
}

// jobError: bad requests and unknown jobs exit 2, a refused duplicate 1.
func jobError(err error) error {
	var bad orchestrator.BadRequestError
	if errors.As(err, &bad) || errors.Is(err, orchestrator.ErrJobNotFound) {
		return usageError{err}
	}
	return err
}

func printJob(w io.Writer, output string, j orchestrator.Job, events bool) error {
	if output == "json" {
		return writeJSONOut(w, j)
	}
	fmt.Fprintf(w, "job %d: %s %s — %s (attempt %d)\n", j.ID, j.Kind, j.Target, j.Status, j.Attempt)
	fmt.Fprintf(w, "  requested by %s at %s\n", orDash(j.RequestedBy), j.Created.UTC().Format(time.RFC3339))
	if j.Run != nil && j.Schedule != "" {
		fmt.Fprintf(w, "  schedule %s, run %s\n", j.Schedule, j.Run)
	} else if j.Run != nil {
		fmt.Fprintf(w, "  maintenance window %s\n", j.Run)
	}
	fmt.Fprintf(w, "  started %s, ended %s\n", fmtJobTime(j.Started), fmtJobTime(j.Ended))
	fmt.Fprintf(w, "  installed %d, failed %d\n", j.Installed, j.Failed)
	if j.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", j.Reason)
	}
	if string(j.Options) != "" && string(j.Options) != "{}" {
		fmt.Fprintf(w, "  options: %s\n", j.Options)
	}
	for _, d := range j.Decisions {
		fmt.Fprintf(w, "  decision: %s\n", d)
	}
	if len(j.Rollouts) > 0 {
		fmt.Fprintf(w, "  rollouts: %s\n", strings.Join(j.Rollouts, ", "))
	}
	if events && len(j.Events) > 0 {
		fmt.Fprintln(w, "events:")
		for _, e := range j.Events {
			fmt.Fprintf(w, "  %s  #%d %-5s %s\n", e.Time.UTC().Format("2006-01-02 15:04:05"), e.Attempt, e.Level, e.Message)
		}
	}
	return nil
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtJobTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func shortReason(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
