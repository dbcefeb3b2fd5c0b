package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/orchestrator"
)

// imageRegisterOptions are image register's flags beyond the common ones.
type imageRegisterOptions struct {
	imageOptions
	packerManifest string
	verify         bool
	sshTimeout     time.Duration
}

func registerFlags(cmd *cobra.Command, o *imageRegisterOptions) {
	f := cmd.Flags()
	f.StringVar(&o.packerManifest, "from-packer-manifest", "", "take IMAGE from the newest build in this Packer manifest (post-processor \"manifest\")")
	f.BoolVar(&o.verify, "verify", false, "boot a server from the image and run the family's checks before it becomes active")
	f.DurationVar(&o.sshTimeout, "ssh-timeout", 5*time.Minute, "with --verify: how long to wait for the server's SSH")
}

// runImageRegisterCmd checks register's arguments and flags, then registers.
func runImageRegisterCmd(ctx context.Context, stdout, stderr io.Writer, args []string, o imageRegisterOptions) error {
	family := args[0]
	var ref string
	switch {
	case o.packerManifest != "" && len(args) == 2:
		return usageErrorf("give IMAGE or --from-packer-manifest, not both")
	case o.packerManifest != "" && o.client.server != "":
		// The daemon reads the manifest's newest build (POST …/register packer_manifest).
	case o.packerManifest != "":
		id, err := packerArtifact(o.packerManifest)
		if err != nil {
			return err
		}
		ref = id
	case len(args) == 2:
		ref = args[1]
	default:
		return usageErrorf("give the image to register: remint image register FAMILY IMAGE (or --from-packer-manifest FILE)")
	}
	if o.client.server != "" {
		return runImageRegisterOnServer(ctx, stdout, family, ref, o)
	}
	if !o.verify {
		return runImageRegister(ctx, stdout, stderr, family, ref, o.imageOptions)
	}
	return runImageRegisterVerified(ctx, stdout, stderr, family, ref, o)
}

// packerArtifact returns the image id of the newest build in a Packer manifest file
// (catalog.PackerArtifact). Every problem is a usage error.
func packerArtifact(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", usageErrorf("--from-packer-manifest %s: no such file (Packer writes it with the \"manifest\" post-processor)", path)
	}
	if err != nil {
		return "", usageErrorf("--from-packer-manifest %s: %v", path, err)
	}
	id, err := catalog.PackerArtifact(raw)
	if err != nil {
		return "", usageErrorf("--from-packer-manifest %s: %v", path, err)
	}
	return id, nil
}

// runImageRegisterOnServer registers through the daemon's API: the image, or the Packer
// manifest's content for the daemon to read.
func runImageRegisterOnServer(ctx context.Context, stdout io.Writer, family, ref string, o imageRegisterOptions) error {
	if o.verify {
		return localOnlyf("--verify and --server: a verification boot runs from the command line, not through the daemon")
	}
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	c, err := o.client.client()
	if err != nil {
		return err
	}
	req := orchestrator.RegisterRequest{Image: ref}
	if o.packerManifest != "" {
		raw, err := os.ReadFile(o.packerManifest)
		if err != nil {
			return usageErrorf("--from-packer-manifest %s: %v", o.packerManifest, err)
		}
		if !json.Valid(raw) {
			return usageErrorf("--from-packer-manifest %s: not a Packer manifest (not JSON)", o.packerManifest)
		}
		req.PackerManifest = raw
	}
	ch, err := c.RegisterImage(ctx, family, req)
	if err != nil {
		return serverError(err)
	}
	return printChange(stdout, o.output, ch, nil)
}

// runImageRegisterVerified adds the image as a candidate, verifies it and publishes it.
func runImageRegisterVerified(ctx context.Context, stdout, stderr io.Writer, family, ref string, o imageRegisterOptions) error {
	env, err := openImages(ctx, o.imageOptions, stderr, family)
	if err != nil {
		return err
	}
	img, err := catalog.FindImage(ctx, env.cloud, ref)
	if err != nil {
		return err
	}
	leases, done, err := familyLeases(ctx, env, "remint image register "+family+" --verify", 0)
	if err != nil {
		return err
	}
	defer done()
	p := newBuildPrinter(stdout, o.output)
	res, err := imagebuild.Verify(ctx, env.cloud, env.cat, imagebuild.Options{
		Family: env.m.Families[family], Leases: leases, Checks: familyChecks(env.m, family),
		SSHTimeout: o.sshTimeout, Events: p.event, Logger: env.log, Now: o.time,
	}, img.ID, catalogBuildOf(img))
	if res.BuildID == "" {
		return leaseHeld(err)
	}
	p.summary(res)
	if errors.Is(err, imagebuild.ErrBuildFailed) {
		return fmt.Errorf("image %s was not registered as active: verification failed at step %q; it stays %s %s, a candidate marked failed", img.ID, res.FailedStep, family, res.Version)
	}
	return err
}
