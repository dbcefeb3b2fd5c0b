package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/loadgen"
)

func init() { register(newLoadgenCmd) }

// Bounds of the load generator: it never runs longer than maxLoadDuration, never with
// more than maxLoadConcurrency workers.
const (
	maxLoadDuration    = 30 * time.Minute
	maxLoadConcurrency = 64
)

type loadgenOptions struct {
	duration       time.Duration
	untilFile      string
	concurrency    int
	interval       time.Duration
	reconnectAfter time.Duration
	timeout        time.Duration
	output         string
}

// newLoadgenCmd is the bounded load generator `make demo` and operators use to watch a
// rebuild from the client's side. Hidden from the command list (it is a test tool, not
// part of keeping fleets patched) but documented in its help and the README.
func newLoadgenCmd() *cobra.Command {
	var o loadgenOptions
	cmd := &cobra.Command{
		Use:    "loadgen URL...",
		Short:  "Send steady HTTP load to URLs and count failed requests and who answered",
		Hidden: true,
		Long: `Send GET requests to every URL from a few workers until --duration is over, --until-file
exists, or SIGINT/SIGTERM; then print, per URL, how many requests were sent, how many
failed, and which servers and image versions answered, in the order they took over.

A request fails on a transport error, a timeout, a status other than 200, or a body that
is not the simulator workload's JSON. Answers are attributed with the body's server_id,
image_name and image_version (the X-Remint-Server-Id header when the body lacks them).

The load is bounded: --concurrency workers (default 4), each sending one request at a time
with --interval between them, across all URLs in turn. Connections are kept alive and
reused; a connection older than --reconnect-after is closed after its next request, so
traffic follows an address that moved to another server within about that long while
the number of new connections stays low.

Exit status: 0 when no request failed, 1 when any did, 2 for bad flags or URLs.`,
		Example: `  # Watch a rebuild through the group's addresses; stop when the file appears
  remint loadgen --until-file /tmp/stop http://172.24.4.10:8080/ http://172.24.4.11:8080/ &
  remint rebuild web; touch /tmp/stop; wait

  # One second of load, JSON summary
  remint loadgen --duration 1s --output json http://172.24.4.10:8080/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoadgen(cmd.Context(), cmd.OutOrStdout(), args, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", time.Minute, "stop after this long (at most "+maxLoadDuration.String()+"; also the bound with --until-file)")
	f.StringVar(&o.untilFile, "until-file", "", "stop as soon as this file exists")
	f.IntVar(&o.concurrency, "concurrency", 4, fmt.Sprintf("workers, each with one request in flight (1-%d)", maxLoadConcurrency))
	f.DurationVar(&o.interval, "interval", 10*time.Millisecond, "pause of each worker between requests")
	f.DurationVar(&o.reconnectAfter, "reconnect-after", time.Second, "close a kept-alive connection after its next request once it is this old")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "timeout of one request")
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runLoadgen(ctx context.Context, stdout io.Writer, args []string, o loadgenOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	cfg, err := o.config(args)
	if err != nil {
		return err
	}
	rep := loadgen.Run(ctx, cfg)
	if o.output == "json" {
		err = writeJSON(stdout, rep)
	} else {
		_, err = io.WriteString(stdout, rep.String())
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed", rep.Failed, rep.Total)
	}
	return nil
}

// config checks the flags and URLs; every problem is a usage error.
func (o loadgenOptions) config(args []string) (loadgen.Config, error) {
	switch {
	case o.duration <= 0 || o.duration > maxLoadDuration:
		return loadgen.Config{}, usageErrorf("--duration %s: want more than 0 and at most %s", o.duration, maxLoadDuration)
	case o.concurrency < 1 || o.concurrency > maxLoadConcurrency:
		return loadgen.Config{}, usageErrorf("--concurrency %d: want 1 to %d", o.concurrency, maxLoadConcurrency)
	case o.interval < 0:
		return loadgen.Config{}, usageErrorf("--interval %s: must not be negative", o.interval)
	case o.reconnectAfter <= 0:
		return loadgen.Config{}, usageErrorf("--reconnect-after %s: want more than 0", o.reconnectAfter)
	case o.timeout <= 0:
		return loadgen.Config{}, usageErrorf("--timeout %s: want more than 0", o.timeout)
	}
	seen := map[string]bool{}
	for _, a := range args {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return loadgen.Config{}, usageErrorf("URL %q: want http://HOST[:PORT]/PATH", a)
		}
		if seen[a] {
			return loadgen.Config{}, usageErrorf("URL %q given twice", a)
		}
		seen[a] = true
	}
	return loadgen.Config{
		URLs: args, Duration: o.duration, UntilFile: o.untilFile, Concurrency: o.concurrency,
		Interval: o.interval, ReconnectAfter: o.reconnectAfter, Timeout: o.timeout, Now: time.Now,
	}, nil
}
