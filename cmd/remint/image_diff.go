package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { imageSubcommands = append(imageSubcommands, newImageDiffCmd) }

func newImageDiffCmd() *cobra.Command {
	var o imageOptions
	cmd := &cobra.Command{
		Use:   "diff FAMILY VERSION_A VERSION_B",
		Short: "List the packages added, removed and upgraded between two versions",
		Long: `Compare the package lists recorded by remint image build for two versions of FAMILY:
packages added, removed, and upgraded (from → to), each marked "security" when the new
version came from a security suite (e.g. bookworm-security). "latest" names the active
version. Images registered from elsewhere have no recorded list. With --server URL the
daemon's API answers (GET /v1/images/FAMILY/diff).`,
		Example: `  remint image diff debian-12 2026.10.1 2026.11.1
  remint image diff debian-12 2026.10.1 latest --output json
  remint image diff debian-12 2026.10.1 latest --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageDiff(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1], args[2], o)
		},
	}
	imageFlags(cmd, &o)
	serverFlag(cmd, &o.client)
	return cmd
}

// diffView is image diff's JSON output: the API's.
type diffView = orchestrator.ImageDiff

func runImageDiff(ctx context.Context, stdout, stderr io.Writer, family, a, b string, o imageOptions) error {
	for _, v := range []string{a, b} {
		if v != "latest" {
			if _, err := parseVersionArg(v); err != nil {
				return err
			}
		}
	}
	family, versions, changes, err := diffImages(ctx, stderr, family, a, b, o)
	if err != nil {
		return err
	}
	if o.output == "json" {
		if changes == nil {
			changes = []debian.Change{}
		}
		return writeJSON(stdout, diffView{Family: family, From: versions[0], To: versions[1], Changes: changes})
	}
	if len(changes) == 0 {
		fmt.Fprintf(stdout, "%s %s and %s have the same packages\n", family, versions[0], versions[1])
		return nil
	}
	fmt.Fprintf(stdout, "%s %s → %s: %d packages changed\n", family, versions[0], versions[1], len(changes))
	for _, c := range changes {
		fmt.Fprintf(stdout, "  %s\n", formatChange(c))
	}
	return nil
}

// diffImages compares two versions' package lists: through the daemon with --server,
// else from the cloud. It returns the family, both versions resolved and the changes.
func diffImages(ctx context.Context, stderr io.Writer, family, a, b string, o imageOptions) (string, []string, []debian.Change, error) {
	if o.client.server != "" {
		if err := checkOutput(o.output, "text", "json"); err != nil {
			return "", nil, nil, err
		}
		c, err := o.client.client()
		if err != nil {
			return "", nil, nil, err
		}
		d, err := c.DiffImages(ctx, family, a, b)
		if err != nil {
			return "", nil, nil, serverError(err)
		}
		return d.Family, []string{d.From, d.To}, d.Changes, nil
	}
	env, err := openImages(ctx, o, stderr, family)
	if err != nil {
		return "", nil, nil, err
	}
	lists := make([][]debian.Package, 2)
	versions := make([]string, 2)
	for i, ref := range []string{a, b} {
		var e catalog.Entry
		if ref == "latest" {
			e, err = env.cat.Latest(ctx, family)
			err = noActiveIsUsage(err)
		} else {
			v, _ := catalog.ParseVersion(ref)
			e, err = env.cat.Version(ctx, family, v)
		}
		if err != nil {
			return "", nil, nil, err
		}
		if lists[i], err = catalog.Packages(e); err != nil {
			if errors.Is(err, catalog.ErrNoPackageList) {
				return "", nil, nil, usageError{err}
			}
			return "", nil, nil, err
		}
		versions[i] = e.Version.String()
	}
	return family, versions, debian.Diff(lists[0], lists[1]), nil
}

// formatChange renders one package change: "upgraded demo-libssl 1.0-1 → 1.0-1+deb12u1
// (security: bookworm-security)".
func formatChange(c debian.Change) string {
	var s string
	switch c.Kind() {
	case "added":
		s = fmt.Sprintf("added    %s %s", c.Name, c.To)
	case "removed":
		s = fmt.Sprintf("removed  %s %s", c.Name, c.From)
	default:
		s = fmt.Sprintf("upgraded %s %s → %s", c.Name, c.From, c.To)
	}
	switch {
	case c.Security:
		s += " (security: " + c.Suite + ")"
	case c.Suite != "" && c.To != "":
		s += " (" + c.Suite + ")"
	}
	return strings.TrimSpace(s)
}
