package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/remint-dev/remint/internal/sim/workload"
	"github.com/spf13/cobra"
)

func init() { register(newWorkloadCmd) }

type workloadOptions struct {
	listen          string
	infoFile        string
	info            workload.Info
	health          string
	startDelay      time.Duration
	shutdownTimeout time.Duration
}

// newWorkloadCmd is the app a docker-driver server runs; hidden because only the simulator
// starts it.
func newWorkloadCmd() *cobra.Command {
	var o workloadOptions
	cmd := &cobra.Command{
		Use:    "workload",
		Short:  "Serve the simulated server's workload (run inside docker-driver servers)",
		Hidden: true,
		Long: `Serve the HTTP app of a simulated server: GET / reports the server and image (JSON, or one
text line with Accept: text/plain), GET /healthz answers 200 "ok" or 503 "unhealthy".

The server is described by --info-file (JSON: server_id, server_name, image_id, image_name,
image_version, hostname, health, start_delay) and/or the flags, which override the file.
SIGTERM or SIGINT stops accepting, lets in-flight requests finish (up to
--shutdown-timeout) and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWorkload(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":8080", "address to serve on")
	f.StringVar(&o.infoFile, "info-file", "", "JSON file describing the server (see --help)")
	f.StringVar(&o.info.ServerID, "server-id", "", "server id (overrides the info file)")
	f.StringVar(&o.info.ServerName, "server-name", "", "server name (overrides the info file)")
	f.StringVar(&o.info.ImageID, "image-id", "", "image id (overrides the info file)")
	f.StringVar(&o.info.ImageName, "image-name", "", "image name (overrides the info file)")
	f.StringVar(&o.info.ImageVersion, "image-version", "", "image version (overrides the info file)")
	f.StringVar(&o.info.Hostname, "hostname", "", "hostname to report (default: the info file's, else the OS hostname)")
	f.StringVar(&o.health, "health", "", "healthy or unhealthy (overrides the info file)")
	f.DurationVar(&o.startDelay, "start-delay", 0, "wait this long before listening, to simulate a slow boot (overrides the info file)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	return cmd
}

func runWorkload(cmd *cobra.Command, o workloadOptions) error {
	log, err := newLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	cfg, err := workloadConfig(cmd, o)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	s, err := workload.Start(ctx, o.listen, cfg, workload.StartOptions{Logger: log})
	if err != nil {
		return err
	}
	select {
	case <-s.Done():
		return fmt.Errorf("workload of server %s stopped: %w", cfg.ServerID, s.Err())
	case <-ctx.Done():
	}
	log.Info("workload shutting down", "server", cfg.ServerID, "in_flight", s.InFlight(), "timeout", o.shutdownTimeout)
	// ctx is already cancelled; the drain gets its own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("workload stopped", "server", cfg.ServerID)
	return nil
}

// workloadConfig reads the info file, then applies the flags that were given.
func workloadConfig(cmd *cobra.Command, o workloadOptions) (workload.Config, error) {
	var cfg workload.Config
	if o.infoFile != "" {
		f, err := os.Open(o.infoFile)
		if err != nil {
			return cfg, usageErrorf("--info-file: %w", err)
		}
		defer f.Close()
		if cfg, err = workload.ReadConfig(f); err != nil {
			return cfg, usageErrorf("--info-file %s: %w", o.infoFile, err)
		}
	}
	flags := cmd.Flags()
	for name, dst := range map[string]*string{
		"server-id": &cfg.ServerID, "server-name": &cfg.ServerName, "image-id": &cfg.ImageID,
		"image-name": &cfg.ImageName, "image-version": &cfg.ImageVersion, "hostname": &cfg.Hostname,
	} {
		if flags.Changed(name) {
			v, _ := flags.GetString(name)
			*dst = v
		}
	}
	if flags.Changed("health") {
		switch o.health {
		case "healthy":
			cfg.Unhealthy = false
		case "unhealthy":
			cfg.Unhealthy = true
		default:
			return cfg, usageErrorf("--health %q: want healthy or unhealthy", o.health)
		}
	}
	if flags.Changed("start-delay") {
		if o.startDelay < 0 {
			return cfg, usageErrorf("--start-delay %s: must not be negative", o.startDelay)
		}
		cfg.StartDelay = o.startDelay
	}
	if cfg.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			cfg.Hostname = h
		}
	}
	return cfg, nil
}
