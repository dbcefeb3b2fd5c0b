package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/openstack"
)

func init() { imageSubcommands = append(imageSubcommands, newImagePromoteCmd) }

func newImagePromoteCmd() *cobra.Command {
	var o imageOptions
	cmd := &cobra.Command{
		Use:   "promote FAMILY VERSION",
		Short: "Make a candidate version active on the operator's word",
		Long: `Promote a candidate version of FAMILY to active without remint's verification boot, for
a candidate an operator verified by other means (or one whose verification failed for a
reason the operator has ruled out; the override is recorded on the image). The previous
active version becomes deprecated. With --server URL the daemon promotes it (POST
/v1/images/FAMILY/VERSION/promote): the same output.`,
		Example: `  remint image promote debian-12 2026.11.2
  remint image promote debian-12 2026.11.2 --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagePromote(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1], o)
		},
	}
	imageFlags(cmd, &o)
	serverFlag(cmd, &o.client)
	return cmd
}

func runImagePromote(ctx context.Context, stdout, stderr io.Writer, family, version string, o imageOptions) error {
	v, err := parseVersionArg(version)
	if err != nil {
		return err
	}
	if o.client.server != "" {
		if err := checkOutput(o.output, "text", "json"); err != nil {
			return err
		}
		c, err := o.client.client()
		if err != nil {
			return err
		}
		ch, err := c.PromoteImage(ctx, family, v.String())
		if err != nil {
			return serverError(err)
		}
		return printChange(stdout, o.output, ch, nil)
	}
	env, err := openImages(ctx, o, stderr, family)
	if err != nil {
		return err
	}
	e, err := env.cat.Version(ctx, family, v)
	if err != nil {
		return err
	}
	if e.State != catalog.Candidate {
		return usageErrorf("promote %s %s: it is %s; only a candidate can be promoted", family, v, e.State)
	}
	pe, notes, err := env.cat.PromoteVersion(ctx, family, v, o.time())
	cv := changeView{Family: family, Notes: notes}
	if pe.Image.ID != "" {
		ev := viewOf(pe)
		cv.Entry = &ev
	}
	return printChange(stdout, o.output, cv, err)
}

// catalogBuildOf is what is known of how an image registered from elsewhere was built.
func catalogBuildOf(img openstack.Image) catalog.Build {
	return catalog.Build{SourceImage: img.Properties["base_image_ref"], BuiltAt: img.Created}
}
