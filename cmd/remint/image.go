package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newImageCmd) }

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, verify and manage image versions: build, register, promote, list, show, diff, next, revoke, retire",
		Long: `The image catalog lives in Glance itself: every catalog image carries the properties
remint_family, remint_version (YYYY.MM.N) and remint_state (candidate, active, deprecated,
retired, revoked) and the tag "remint". New servers of a family boot from its newest
active version ("latest").

Families are the ones in the manifest (-f, default remint.yaml).`,
	}
	cmd.AddCommand(newImageRegisterCmd(), newImageListCmd(), newImageShowCmd(), newImageRevokeCmd(), newImageRetireCmd())
	for _, sub := range imageSubcommands {
		cmd.AddCommand(sub())
	}
	return cmd
}

// imageSubcommands are added by the files of further image subcommands (image_*.go).
var imageSubcommands []func() *cobra.Command

// imageOptions are the flags every image subcommand has; now is the clock (tests set it).
type imageOptions struct {
	file   string
	output string
	now    func() time.Time
	client clientOptions // list: through the daemon's API
}

func (o imageOptions) time() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

func imageFlags(cmd *cobra.Command, o *imageOptions) {
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
}

func newImageRegisterCmd() *cobra.Command {
	var o imageRegisterOptions
	cmd := &cobra.Command{
		Use:   "register FAMILY IMAGE | register FAMILY --from-packer-manifest FILE [--verify]",
		Short: "Make an existing image the family's new active version",
		Long: `Register an image that was built elsewhere (by Packer, by hand, by another pipeline) as
the family's new active version. IMAGE is an image id or a unique image name; the image
must be active in Glance and not yet in the catalog. It gets the next version of the
current month (YYYY.MM.N) and becomes "latest"; the previously active version becomes
deprecated (still bootable, e.g. for rollbacks).

--from-packer-manifest takes IMAGE from the newest build in the file Packer's manifest
post-processor wrote (an openstack builder's artifact_id). --verify adds the image as a
candidate, boots a server from it and runs the family's checks (SSH with a console host
key, the health checks of the groups booting from the family) before it becomes active;
an image that fails stays a candidate, marked failed.`,
		Example: `  # Packer built an image; make it debian-12's latest
  remint image register debian-12 3f0c9c2e-6f8a-4d7e-9a51-2b1f0c7d9e11

  # by name (must be unique), printing the result as JSON
  remint image register debian-12 debian-12-packer-20261122 --output json

  # the image Packer just built, proven before it becomes latest
  remint image register debian-12 --from-packer-manifest packer-manifest.json --verify

  # through the daemon (the manifest file is sent; --verify is refused there)
  remint image register debian-12 --from-packer-manifest packer-manifest.json --server http://127.0.0.1:8440`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageRegisterCmd(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args, o)
		},
	}
	imageFlags(cmd, &o.imageOptions)
	registerFlags(cmd, &o)
	serverFlag(cmd, &o.client)
	return cmd
}

func newImageListCmd() *cobra.Command {
	var o imageOptions
	cmd := &cobra.Command{
		Use:   "list [FAMILY]",
		Short: "List catalog image versions, newest first",
		Long: `List the catalog images of FAMILY, or of every family in the manifest, newest version
first: family, version, state, image id, image name and creation time. Retired (hidden)
images are included. With --server URL the daemon's API answers (GET /v1/images).`,
		Example: `  remint image list
  remint image list debian-12 --output json
  remint image list --server http://127.0.0.1:8440`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			family := ""
			if len(args) == 1 {
				family = args[0]
			}
			return runImageList(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), family, o)
		},
	}
	imageFlags(cmd, &o)
	serverFlag(cmd, &o.client)
	return cmd
}

func newImageShowCmd() *cobra.Command {
	var o imageOptions
	cmd := &cobra.Command{
		Use:   "show FAMILY [VERSION|latest]",
		Short: "Show one catalog image version (default: latest)",
		Long: `Show one version of FAMILY: its state, the Glance image behind it (id, name, status,
visibility, hidden) and its catalog properties. "latest" (the default) is the newest
active version, the one new servers boot from. Revoked and retired versions can be shown
too. With --server URL the daemon's API answers (GET /v1/images/FAMILY/VERSION).`,
		Example: `  remint image show debian-12
  remint image show debian-12 2026.11.2 --output json
  remint image show debian-12 --server http://127.0.0.1:8440`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			version := "latest"
			if len(args) == 2 {
				version = args[1]
			}
			return runImageShow(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], version, o)
		},
	}
	imageFlags(cmd, &o)
	serverFlag(cmd, &o.client)
	return cmd
}

type imageRevokeOptions struct {
	imageOptions
	reason string
}

func newImageRevokeCmd() *cobra.Command {
	var o imageRevokeOptions
	cmd := &cobra.Command{
		Use:   "revoke FAMILY VERSION --reason TEXT",
		Short: "Mark a bad version revoked and deactivate its image",
		Long: `Mark VERSION of FAMILY revoked (with the reason recorded on the image) and deactivate its
Glance image at once, so no server boots from it again. When it was the active version,
the newest deprecated version becomes active again: "latest" re-points to the previous
good image. Servers already running the revoked image are not touched: rebuild their
groups to move them off it. With --server URL the daemon revokes it (POST
/v1/images/FAMILY/VERSION/revoke), and its log names the token that asked.`,
		Example: `  remint image revoke debian-12 2026.11.3 --reason "openssh regression, DSA-1234"
  remint image revoke debian-12 2026.11.3 --reason "openssh regression" --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageRevoke(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1], o)
		},
	}
	imageFlags(cmd, &o.imageOptions)
	serverFlag(cmd, &o.client)
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the version is revoked (required; recorded on the image)")
	return cmd
}

type imageRetireOptions struct {
	imageOptions
	keep   int // 0: the family's retention
	dryRun bool
}

func newImageRetireCmd() *cobra.Command {
	var o imageRetireOptions
	cmd := &cobra.Command{
		Use:   "retire FAMILY [--keep N] [--dry-run]",
		Short: "Enforce retention: retire old versions and delete unused retired images",
		Long: `Keep the newest N active and deprecated versions of FAMILY (N is --keep, default the
family's retention in the manifest). Older ones are marked retired and hidden in Glance;
retired images that no server of the project boots from are deleted. An image a server
still uses is never deleted. --dry-run only prints what would be done.

With --server URL the daemon retires them (POST /v1/images/FAMILY/retire; --dry-run
too), with its manifest's retention, and its log names the token that asked: the same
output.`,
		Example: `  remint image retire debian-12 --dry-run
  remint image retire debian-12 --keep 2
  remint image retire debian-12 --dry-run --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("keep") && o.keep < 1 {
				return usageErrorf("--keep %d: want at least 1", o.keep)
			}
			return runImageRetire(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	imageFlags(cmd, &o.imageOptions)
	serverFlag(cmd, &o.client)
	cmd.Flags().IntVar(&o.keep, "keep", 0, "versions to keep (default: the family's retention)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print what would be done, change nothing")
	return cmd
}

// imageEnv is what the image commands work with.
type imageEnv struct {
	m     *manifest.Manifest
	cloud *openstack.Client
	cat   *catalog.Catalog
	log   *slog.Logger
}

// openImages checks the output flag, loads the manifest, checks the families (all
// input errors come before the cloud is contacted) and connects.
func openImages(ctx context.Context, o imageOptions, stderr io.Writer, families ...string) (*imageEnv, error) {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return nil, err
	}
	log, err := newLogger(stderr)
	if err != nil {
		return nil, err
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		if err := checkFamily(m, f); err != nil {
			return nil, err
		}
	}
	cl, err := connectCloud(ctx, m, log)
	if err != nil {
		return nil, err
	}
	return &imageEnv{m: m, cloud: cl, cat: catalog.New(cl), log: log}, nil
}

func checkFamily(m *manifest.Manifest, family string) error {
	if _, ok := m.Families[family]; ok {
		return nil
	}
	names := m.FamilyNames()
	if len(names) == 0 {
		return usageErrorf("family %q is not in %s, which defines no families", family, m.Path)
	}
	return usageErrorf("family %q is not in %s (families: %s)", family, m.Path, strings.Join(names, ", "))
}

// parseVersionArg parses a version argument; a bad one is a usage error.
func parseVersionArg(s string) (catalog.Version, error) {
	v, err := catalog.ParseVersion(s)
	if err != nil {
		return v, usageError{err}
	}
	return v, nil
}

// entryView is the JSON (and text) form of a catalog entry: the API's.
type entryView = orchestrator.ImageView

func viewOf(e catalog.Entry) entryView { return orchestrator.ViewImage(e) }

// changeView is the JSON output of the commands that change the catalog: the API's.
type changeView = orchestrator.ImageChange

// printChange prints the notes of a catalog change, also when it failed half-way (the
// notes say what was done), and returns err.
func printChange(w io.Writer, output string, v changeView, err error) error {
	if v.Notes == nil {
		v.Notes = []string{}
	}
	if output == "json" {
		if err != nil {
			v.Error = err.Error()
		}
		if werr := writeJSON(w, v); werr != nil && err == nil {
			return werr
		}
		return err
	}
	for _, n := range v.Notes {
		fmt.Fprintln(w, n)
	}
	return err
}

func runImageRegister(ctx context.Context, stdout, stderr io.Writer, family, ref string, o imageOptions) error {
	env, err := openImages(ctx, o, stderr, family)
	if err != nil {
		return err
	}
	img, err := catalog.FindImage(ctx, env.cloud, ref)
	if err != nil {
		return err
	}
	e, notes, err := env.cat.Register(ctx, family, img.ID, o.time())
	v := changeView{Family: family, Notes: notes}
	if e.Image.ID != "" {
		ev := viewOf(e)
		v.Entry = &ev
	}
	if err == nil {
		env.log.Info("image registered", "family", family, "version", e.Version.String(), "image", img.ID)
	}
	return printChange(stdout, o.output, v, err)
}

func runImageList(ctx context.Context, stdout, stderr io.Writer, family string, o imageOptions) error {
	var only []string
	if family != "" {
		only = []string{family}
	}
	views, families, err := listImages(ctx, stderr, only, o)
	if err != nil {
		return err
	}
	if o.output == "json" {
		return writeJSON(stdout, views)
	}
	if len(views) == 0 {
		fmt.Fprintf(stdout, "no catalog images in %s (register one with: remint image register FAMILY IMAGE)\n", strings.Join(families, ", "))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAMILY\tVERSION\tSTATE\tIMAGE ID\tNAME\tCREATED")
	for _, v := range views {
		state := v.State
		if v.Status != "active" {
			state += " (" + v.Status + ")"
		}
		if v.Properties[catalog.PropVerification] == catalog.VerificationFailed {
			state += " (verification failed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Family, v.Version, state, v.ImageID, v.Name, formatTime(v.Created))
	}
	return tw.Flush()
}

// listImages lists the catalog versions of families (nil: every family): through the
// daemon with --server, else from the cloud.
func listImages(ctx context.Context, stderr io.Writer, only []string, o imageOptions) ([]entryView, []string, error) {
	if o.client.server != "" {
		if err := checkOutput(o.output, "text", "json"); err != nil {
			return nil, nil, err
		}
		c, err := o.client.client()
		if err != nil {
			return nil, nil, err
		}
		family := ""
		if len(only) == 1 {
			family = only[0]
		}
		views, err := c.Images(ctx, family)
		if err != nil {
			return nil, nil, serverError(err)
		}
		families := only
		if families == nil {
			families = []string{"the daemon's families"}
		}
		return views, families, nil
	}
	env, err := openImages(ctx, o, stderr, only...)
	if err != nil {
		return nil, nil, err
	}
	families := only
	if families == nil {
		families = env.m.FamilyNames()
	}
	views := []entryView{}
	for _, f := range families {
		entries, err := env.cat.List(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			views = append(views, viewOf(e))
		}
	}
	return views, families, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func runImageShow(ctx context.Context, stdout, stderr io.Writer, family, version string, o imageOptions) error {
	var want catalog.Version
	if version != "latest" {
		v, err := parseVersionArg(version)
		if err != nil {
			return err
		}
		want = v
	}
	v, err := showImage(ctx, stderr, family, want, o)
	if err != nil {
		return err
	}
	if o.output == "json" {
		return writeJSON(stdout, v)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "family:\t%s\n", v.Family)
	fmt.Fprintf(tw, "version:\t%s\n", v.Version)
	fmt.Fprintf(tw, "state:\t%s\n", v.State)
	if v.RevokedReason != "" {
		fmt.Fprintf(tw, "revoked because:\t%s\n", v.RevokedReason)
	}
	fmt.Fprintf(tw, "image id:\t%s\n", v.ImageID)
	fmt.Fprintf(tw, "name:\t%s\n", v.Name)
	fmt.Fprintf(tw, "glance status:\t%s\n", v.Status)
	fmt.Fprintf(tw, "visibility:\t%s\n", v.Visibility)
	fmt.Fprintf(tw, "hidden:\t%t\n", v.Hidden)
	fmt.Fprintf(tw, "created:\t%s\n", formatTime(v.Created))
	for _, k := range slices.Sorted(maps.Keys(v.Properties)) {
		fmt.Fprintf(tw, "%s:\t%s\n", k, v.Properties[k])
	}
	return tw.Flush()
}

// noActiveIsUsage makes "latest" of a family without an active version an unknown
// version (exit 2), as the daemon's answer (404) is.
func noActiveIsUsage(err error) error {
	if errors.Is(err, catalog.ErrNoActiveImage) {
		return usageError{err}
	}
	return err
}

// showImage reads one version (zero: latest): through the daemon with --server, else
// from the cloud.
func showImage(ctx context.Context, stderr io.Writer, family string, want catalog.Version, o imageOptions) (entryView, error) {
	if o.client.server != "" {
		if err := checkOutput(o.output, "text", "json"); err != nil {
			return entryView{}, err
		}
		c, err := o.client.client()
		if err != nil {
			return entryView{}, err
		}
		version := "latest"
		if !want.IsZero() {
			version = want.String()
		}
		v, err := c.Image(ctx, family, version)
		return v, serverError(err)
	}
	env, err := openImages(ctx, o, stderr, family)
	if err != nil {
		return entryView{}, err
	}
	var e catalog.Entry
	if want.IsZero() {
		if e, err = env.cat.Latest(ctx, family); err != nil {
			return entryView{}, noActiveIsUsage(err)
		}
	} else if e, err = env.cat.Version(ctx, family, want); err != nil {
		return entryView{}, err
	}
	return viewOf(e), nil
}

func runImageRevoke(ctx context.Context, stdout, stderr io.Writer, family, version string, o imageRevokeOptions) error {
	want, err := parseVersionArg(version)
	if err != nil {
		return err
	}
	if strings.TrimSpace(o.reason) == "" {
		return usageErrorf("revoke %s %s: --reason is required (it is recorded on the image)", family, version)
	}
	if o.client.server != "" {
		if err := checkOutput(o.output, "text", "json"); err != nil {
			return err
		}
		c, err := o.client.client()
		if err != nil {
			return err
		}
		ch, err := c.RevokeImage(ctx, family, want.String(), o.reason)
		if err != nil {
			return serverError(err)
		}
		return printChange(stdout, o.output, ch, nil)
	}
	env, err := openImages(ctx, o.imageOptions, stderr, family)
	if err != nil {
		return err
	}
	if _, err := env.cat.Version(ctx, family, want); err != nil {
		return err
	}
	notes, err := env.cat.Revoke(ctx, family, want.String(), o.reason, o.time())
	if err == nil {
		env.log.Info("image version revoked", "family", family, "version", want.String())
	}
	return printChange(stdout, o.output, changeView{Family: family, Notes: notes}, err)
}

func runImageRetire(ctx context.Context, stdout, stderr io.Writer, family string, o imageRetireOptions) error {
	if o.keep < 0 {
		return usageErrorf("--keep %d: want at least 1", o.keep)
	}
	if o.client.server != "" {
		if err := checkOutput(o.output, "text", "json"); err != nil {
			return err
		}
		c, err := o.client.client()
		if err != nil {
			return err
		}
		ch, err := c.RetireImages(ctx, family, orchestrator.RetireRequest{Keep: o.keep, DryRun: o.dryRun})
		if err != nil {
			return serverError(err) // the daemon's error says what was done before it failed
		}
		return printRetire(stdout, o.output, ch, nil)
	}
	env, err := openImages(ctx, o.imageOptions, stderr, family)
	if err != nil {
		return err
	}
	keep := o.keep
	if keep == 0 {
		keep = env.m.Families[family].Keep()
	}
	inUse, err := catalog.ImagesInUse(ctx, env.cloud)
	if err != nil {
		return err
	}
	notes, err := env.cat.Retire(ctx, family, catalog.RetireOptions{
		Keep: keep, InUse: func(id string) bool { return inUse[id] }, DryRun: o.dryRun,
	}, o.time())
	if err == nil && !o.dryRun {
		env.log.Info("retention enforced", "family", family, "keep", keep, "changes", len(notes))
	}
	return printRetire(stdout, o.output, changeView{Family: family, Keep: keep, DryRun: o.dryRun, Notes: notes}, err)
}

// printRetire prints what retire did (or, dry run, would do), also when it failed
// half-way: the same locally and through the daemon.
func printRetire(stdout io.Writer, output string, v changeView, err error) error {
	if output == "text" {
		switch {
		case err == nil && len(v.Notes) == 0 && v.DryRun:
			fmt.Fprintf(stdout, "dry run: %s has nothing to retire (keep %d)\n", v.Family, v.Keep)
		case err == nil && len(v.Notes) == 0:
			fmt.Fprintf(stdout, "%s: nothing to retire (keep %d)\n", v.Family, v.Keep)
		case v.DryRun:
			fmt.Fprintf(stdout, "dry run (keep %d): nothing was changed; retire would do this:\n", v.Keep)
		}
	}
	return printChange(stdout, output, v, err)
}
