package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/spf13/cobra"
)

func init() { register(newSSHCmd) }

type sshOptions struct {
	file       string
	identity   string
	user       string
	knownHosts string
	insecure   bool
}

func newSSHCmd() *cobra.Command {
	var o sshOptions
	cmd := &cobra.Command{
		Use:   "ssh SERVER -- COMMAND [ARG...]",
		Short: "Run a command on a server over SSH, verifying its host key from its console log",
		Long: `Run one command on a server over SSH and exit with its exit status.

SERVER is a server id or name, or an IP address (fixed or floating). remint connects to
the server's fixed address and verifies the host key against the keys the server printed
to its console at first boot (as cloud-init does), so a server it did not boot, or a man
in the middle, is refused. A floating address is looked up in the cloud first: only the
server it is associated with now passes. Use --known-hosts to verify against a
known_hosts file instead; --insecure-ignore-host-key turns verification off and warns.

The command and its arguments are passed as separate words and quoted for the remote
shell: nothing is interpreted by a shell unless you run one yourself (sh -c '…').

The cloud is the manifest's (-f), or OS_CLOUD's when there is no manifest.`,
		Example: `  remint ssh web-0-2026-11-1 -i ~/.ssh/remint -- uname -a
  remint ssh 7f0c… -i ./remint-sim-key -- sudo -n apt-get update
  remint ssh web-0 -i key --known-hosts ~/.ssh/known_hosts -- cat /var/run/reboot-required.pkgs
  remint ssh 172.24.4.10 -i key -- hostname     # whichever server the floating IP is on now`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return usageErrorf("give the command after --: remint ssh SERVER -- COMMAND [ARG...] (interactive shells are not supported)")
			}
			return runSSH(cmd, o, args[0], args[1:])
		},
	}
	manifestFlag(cmd, &o.file)
	f := cmd.Flags()
	f.StringVarP(&o.identity, "identity", "i", "", "private key file (default $"+remote.EnvPrivateKey+")")
	f.StringVarP(&o.user, "user", "l", "debian", "user to log in as (Debian cloud images and the simulator's base image: debian)")
	f.StringVar(&o.knownHosts, "known-hosts", "", "verify the host key against this known_hosts file instead of the console log")
	f.BoolVar(&o.insecure, "insecure-ignore-host-key", false, "do not verify the host key (unsafe)")
	return cmd
}

func runSSH(cmd *cobra.Command, o sshOptions, ref string, argv []string) error {
	ctx := cmd.Context()
	log, err := newLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if o.knownHosts != "" && o.insecure {
		return usageErrorf("--known-hosts and --insecure-ignore-host-key: give one or the other")
	}
	signer, err := remote.LoadSigner(o.identity)
	switch {
	case errors.Is(err, remote.ErrNoPrivateKey):
		return usageErrorf("--identity: give the private key file (or set %s)", remote.EnvPrivateKey)
	case err != nil:
		return usageErrorf("--identity: %v", err)
	}
	// The manifest only names the cloud here: without one, OS_CLOUD is enough.
	m := &manifest.Manifest{}
	if _, statErr := os.Stat(o.file); statErr == nil || os.Getenv("OS_CLOUD") == "" {
		if m, err = loadManifest(o.file); err != nil {
			return err
		}
	}
	cl, err := connectCloud(ctx, m, log)
	if err != nil {
		return err
	}
	access := &remote.Access{Cloud: cl, User: o.user, Signer: signer,
		KnownHosts: o.knownHosts, InsecureIgnoreHostKey: o.insecure, Logger: log}
	var conn *remote.Client
	if net.ParseIP(ref) != nil {
		conn, err = access.DialAddress(ctx, ref)
	} else {
		var srv openstack.Server
		if srv, err = findServer(ctx, cl, ref); err != nil {
			return err
		}
		conn, err = access.DialServer(ctx, srv)
	}
	if errors.Is(err, remote.ErrNoConsoleHostKeys) {
		return fmt.Errorf("%w; use --known-hosts, or --insecure-ignore-host-key if you must", err)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.Stream(ctx, argv, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if res.ExitStatus != 0 {
		return exitStatusError{code: res.ExitStatus}
	}
	return nil
}

// serverFinder is what findServer needs from the cloud.
type serverFinder interface {
	GetServer(ctx context.Context, id string) (openstack.Server, error)
	ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error)
}

// findServer resolves a server id or unique name.
func findServer(ctx context.Context, cl serverFinder, ref string) (openstack.Server, error) {
	srv, err := cl.GetServer(ctx, ref)
	if err == nil {
		return srv, nil
	}
	if !openstack.IsNotFound(err) {
		return openstack.Server{}, fmt.Errorf("find server %s: %w", ref, err)
	}
	list, err := cl.ListServers(ctx, openstack.ListServersOpts{NamePrefix: ref})
	if err != nil {
		return openstack.Server{}, fmt.Errorf("find server %s: %w", ref, err)
	}
	var found []openstack.Server
	for _, s := range list {
		if s.Name == ref {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return openstack.Server{}, usageErrorf("no server has the id or name %q", ref)
	default:
		ids := make([]string, len(found))
		for i, s := range found {
			ids[i] = s.ID
		}
		return openstack.Server{}, usageErrorf("%d servers are named %q (%s): give an id", len(found), ref, strings.Join(ids, ", "))
	}
}

// exitStatusError makes remint exit with a remote command's exit status.
type exitStatusError struct{ code int }

func (e exitStatusError) Error() string {
	return fmt.Sprintf("remote command exited with status %d", e.code)
}
