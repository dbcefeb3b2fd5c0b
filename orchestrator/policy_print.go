package orchestrator

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// String renders one decision for humans (--dry-run, golden files): the choice, the
// reason, the options, then notes, warnings and the facts it was made from.
func (d Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", d.Target, d.Action)
	fmt.Fprintf(&b, "  reason: %s\n", d.Reason)
	fmt.Fprintf(&b, "  options: %s\n", d.Options)
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	fmt.Fprintf(&b, "  facts: %s\n", d.Facts)
	return b.String()
}

// String renders the facts on one line.
func (f Facts) String() string {
	image := f.Image
	if image == "" {
		image = "none"
	}
	s := fmt.Sprintf("replaceable %t, %s, image %s, %s, surge %s × (%d vCPUs, %d MiB)",
		f.Replaceable, plural(f.Servers, "server", "servers"), image, plural(f.Addresses, "failover address", "failover addresses"),
		fmt.Sprint(f.Surge.Servers), f.Surge.VCPUs, f.Surge.RAM)
	if f.Quota == nil {
		return s + ", quota not read"
	}
	q := f.Quota
	return s + fmt.Sprintf(", quota instances %s, cores %s, RAM %s MiB",
		usage(q.UsedInstances, q.MaxInstances), usage(q.UsedCores, q.MaxCores), usage(q.UsedRAM, q.MaxRAM))
}

func usage(used, maxv int) string {
	if maxv < 0 {
		return fmt.Sprintf("%d/unlimited", used)
	}
	return fmt.Sprintf("%d/%d", used, maxv)
}

// Decisions are the policy's choices for several targets (one deploy or emergency run).
type Decisions []Decision

// String renders a summary table, then each decision in full.
func (ds Decisions) String() string {
	var b strings.Builder
	if len(ds) == 0 {
		return "no targets\n"
	}
	fmt.Fprintf(&b, "decisions at %s:\n", ds[0].DecidedAt.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TARGET\tACTION\tOPTIONS")
	for _, d := range ds {
		opts := d.Options.String()
		if d.Action != ActionInPlace {
			opts = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Target, d.Action, opts)
	}
	tw.Flush()
	for _, d := range ds {
		b.WriteString(d.String())
	}
	return b.String()
}
