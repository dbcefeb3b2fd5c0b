package inplace

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints one line per server: updates installed/failed/left alone, reboot
// wanted/done and downtime, docker and weave from → to, status.
func WriteTable(w io.Writer, s Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	verb := "installed"
	if s.DryRun {
		verb = "to-install"
	}
	fmt.Fprintf(tw, "SERVER\tSTATUS\t%s\tFAILED\tLEFT-ALONE\tREBOOT\tDOWNTIME\tDOCKER\tWEAVE\tNOTE\n", strings.ToUpper(verb))
	for _, r := range s.Servers {
		inst, failed, left := "-", "-", "-"
		if r.Security != nil {
			inst, failed, left = fmt.Sprint(len(r.Security.Installed)), fmt.Sprint(len(r.Security.Failed)), fmt.Sprint(len(r.Security.LeftAlone))
		}
		reboot, down := "-", "-"
		if r.Reboot != nil {
			switch {
			case r.Reboot.Done:
				reboot = "done (" + r.Reboot.Via + ")"
				down = r.Reboot.Downtime.Round(10 * time.Millisecond).String()
			case s.DryRun && (r.Reboot.Policy == RebootAlways || r.Reboot.Wanted && r.Reboot.Policy == RebootIfRequired):
				reboot = "would reboot"
			case s.DryRun && r.Reboot.Policy == RebootIfRequired && r.Security != nil && len(r.Security.Installed) > 0:
				// Packages flag reboot-required in their maintainer scripts, as they install.
				reboot = "known after install"
			case r.Reboot.Wanted:
				reboot = "wanted, not done"
			default:
				reboot = "not needed"
			}
		}
		dock, weave := "-", "-"
		if r.Docker != nil {
			dock = fromTo(r.Docker.From, r.Docker.To)
		}
		if r.Weave != nil {
			weave = fromTo(r.Weave.From, r.Weave.To)
		}
		note := r.Error
		if note == "" && r.Reboot != nil && len(r.Reboot.Packages) > 0 {
			note = "reboot wanted by " + strings.Join(r.Reboot.Packages, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Server.Name, r.Status, inst, failed, left, reboot, down, dock, weave, oneLine(note, 160))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range s.Servers {
		if r.Security == nil {
			continue
		}
		for _, c := range r.Security.Installed {
			fmt.Fprintf(w, "  %s: %s %s %s → %s\n", r.Server.Name, verb, c.Name, c.From, c.To)
		}
		for _, c := range r.Security.Failed {
			fmt.Fprintf(w, "  %s: FAILED %s %s → %s: %s\n", r.Server.Name, c.Name, c.From, c.To, c.Error)
		}
		for _, u := range r.Security.LeftAlone {
			fmt.Fprintf(w, "  %s: left alone (not a security update) %s %s → %s from %s\n", r.Server.Name, u.Name, u.Installed, u.Candidate, strings.Join(u.Origins, ", "))
		}
	}
	for _, r := range s.Servers {
		if r.Docker == nil {
			continue
		}
		for _, c := range r.Docker.Containers {
			how := "by its restart policy"
			if c.RestartedByRemint {
				how = "started by remint"
			}
			fmt.Fprintf(w, "  %s: container %s running again (%s), down %s\n", r.Server.Name, c.Name, how, c.Downtime.Round(time.Millisecond))
		}
	}
	ok := "succeeded"
	if s.DryRun {
		ok = "planned"
	}
	fmt.Fprintf(w, "in-place run %s of %s: %s in %s (%d %s, %d failed, %d not started)\n",
		s.Run, s.Group, s.Status, s.Duration.Round(time.Millisecond), s.Succeeded, ok, s.Failed, s.NotStarted)
	return nil
}

func fromTo(from, to string) string {
	if from == "" {
		from = "none"
	}
	if from == to {
		return to + " (kept)"
	}
	return from + " → " + to
}
