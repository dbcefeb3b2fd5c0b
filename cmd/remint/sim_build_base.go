package main

import (
	"fmt"
	"time"

	"github.com/docker/docker/client"
	"github.com/remint-dev/remint/internal/sim/baseimage"
	"github.com/spf13/cobra"
)

func init() { simSubcommands = append(simSubcommands, newSimBuildBaseCmd) }

type simBuildBaseOptions struct {
	workloadBinary string
	cacheDir       string
	mirror         string
}

// newSimBuildBaseCmd builds the docker driver's debian-12 base image ahead of time.
func newSimBuildBaseCmd() *cobra.Command {
	var o simBuildBaseOptions
	cmd := &cobra.Command{
		Use:   "build-base",
		Short: "Build the docker driver's debian-12 base image now",
		Long: `Build the debian-12 base image the docker driver boots servers from, unless this machine
already has it: debootstrap bookworm (minbase) with openssh-server, unattended-upgrades,
python3, ca-certificates, iproute2, curl and sudo, import it into the local Docker engine,
and add the workload (this binary, which must be statically linked, or --workload-binary).
The image is tagged after its recipe, so it is built once per machine. Needs root,
debootstrap and a Docker engine. Prints the tag and how long it took.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimBuildBase(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.workloadBinary, "workload-binary", "", "statically linked remint binary to run as the workload (default: this binary)")
	f.StringVar(&o.cacheDir, "cache-dir", "/var/cache/remint", "where debootstrap's downloads and build directories are kept")
	f.StringVar(&o.mirror, "mirror", "http://deb.debian.org/debian", "Debian mirror debootstrap downloads from")
	return cmd
}

func runSimBuildBase(cmd *cobra.Command, o simBuildBaseOptions) error {
	log, err := newLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("connect to the Docker engine: %w", err)
	}
	defer cli.Close()
	start := time.Now()
	tag, built, err := baseimage.Ensure(cmd.Context(), cli, baseimage.Options{
		WorkloadBinary: o.workloadBinary,
		CacheDir:       o.cacheDir,
		Mirror:         o.mirror,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	if built {
		fmt.Fprintf(cmd.OutOrStdout(), "built %s in %s\n", tag, time.Since(start).Round(time.Second))
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "%s is already built\n", tag)
	}
	return nil
}
