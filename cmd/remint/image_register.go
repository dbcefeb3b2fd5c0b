package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/imagebuild"
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
	if !o.verify {
		return runImageRegister(ctx, stdout, stderr, family, ref, o.imageOptions)
	}
	return runImageRegisterVerified(ctx, stdout, stderr, family, ref, o)
}

// packerManifest is the file Packer's manifest post-processor writes.
type packerManifest struct {
	Builds []struct {
		Name        string `json:"name"`
		BuilderType string `json:"builder_type"`
		BuildTime   int64  `json:"build_time"`
		ArtifactID  string `json:"artifact_id"`
		RunUUID     string `json:"packer_run_uuid"`
	} `json:"builds"`
	LastRunUUID string `json:"last_run_uuid"`
}

// packerArtifact returns the image id of the newest build in a Packer manifest: the last
// run's (last_run_uuid), else the newest by build_time. Every problem is a usage error.
func packerArtifact(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", usageErrorf("--from-packer-manifest %s: no such file (Packer writes it with the \"manifest\" post-processor)", path)
	}
	if err != nil {
		return "", usageErrorf("--from-packer-manifest %s: %v", path, err)
	}
	var m packerManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", usageErrorf("--from-packer-manifest %s: not a Packer manifest: %v", path, err)
	}
	if len(m.Builds) == 0 {
		return "", usageErrorf("--from-packer-manifest %s: the manifest lists no builds", path)
	}
	newest := -1
	for i, b := range m.Builds {
		if m.LastRunUUID != "" && b.RunUUID == m.LastRunUUID {
			newest = i // the last one of the last run wins
		}
	}
	if newest < 0 {
		for i, b := range m.Builds {
			if newest < 0 || b.BuildTime >= m.Builds[newest].BuildTime {
				newest = i
			}
		}
	}
	b := m.Builds[newest]
	if b.BuilderType != "openstack" {
		return "", usageErrorf("--from-packer-manifest %s: the newest build %q was made by the %q builder; remint registers images of the \"openstack\" builder (its artifact_id is a Glance image id)", path, b.Name, b.BuilderType)
	}
	if strings.TrimSpace(b.ArtifactID) == "" {
		return "", usageErrorf("--from-packer-manifest %s: the newest build %q has no artifact_id", path, b.Name)
	}
	return b.ArtifactID, nil
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
