package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/imagebuild"
)

func init() { imageSubcommands = append(imageSubcommands, newImageNextCmd) }

type imageNextOptions struct {
	imageOptions
	n int
}

func newImageNextCmd() *cobra.Command {
	var o imageNextOptions
	cmd := &cobra.Command{
		Use:   "next FAMILY [-n 5]",
		Short: "Print when the family's next versions will be built",
		Long: `Print the next build times of FAMILY, in UTC and in the rule's time zone: from the
build-image schedules that name the family, else from its release rule (default: the 1st
of each month at 02:00 UTC). Times follow the zone's daylight saving changes. Reads only
the manifest; the cloud is not contacted.`,
		Example: `  remint image next debian-12
  remint image next debian-12 -n 12 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageNext(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	imageFlags(cmd, &o.imageOptions)
	cmd.Flags().IntVarP(&o.n, "count", "n", 5, "how many build times")
	return cmd
}

type nextView struct {
	Family string        `json:"family"`
	From   string        `json:"from"`
	Rule   string        `json:"rule"`
	Zone   string        `json:"zone"`
	Window string        `json:"window,omitempty"`
	Next   []nextBuildAt `json:"next"`
}

type nextBuildAt struct {
	UTC   time.Time `json:"utc"`
	Local string    `json:"local"`
}

func runImageNext(_ context.Context, stdout io.Writer, family string, o imageNextOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if o.n < 1 || o.n > 1000 {
		return usageErrorf("-n %d: want 1 to 1000", o.n)
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return err
	}
	if err := checkFamily(m, family); err != nil {
		return err
	}
	rel, err := imagebuild.NextReleases(m, family, o.time(), o.n)
	if err != nil {
		return usageError{err}
	}
	v := nextView{Family: family, From: rel.From, Rule: rel.Rule, Zone: rel.Zone.String(), Next: []nextBuildAt{}}
	if rel.Window > 0 {
		v.Window = rel.Window.String()
	}
	for _, t := range rel.Next {
		v.Next = append(v.Next, nextBuildAt{UTC: t.UTC(), Local: t.Format("2006-01-02 15:04 MST (-07:00)")})
	}
	if o.output == "json" {
		return writeJSON(stdout, v)
	}
	fmt.Fprintf(stdout, "%s builds by %s: %s\n", family, v.From, v.Rule)
	if v.Window != "" {
		fmt.Fprintf(stdout, "each in a maintenance window of %s\n", v.Window)
	}
	if len(rel.Next) == 0 {
		fmt.Fprintln(stdout, "the rule has no further occurrences")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "UTC\t%s\n", v.Zone)
	for _, n := range v.Next {
		fmt.Fprintf(tw, "%s\t%s\n", n.UTC.Format("2006-01-02 15:04 MST"), n.Local)
	}
	return tw.Flush()
}
