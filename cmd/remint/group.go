package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/openstack"
)

func init() { register(newGroupCmd) }

func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Inspect server groups and take existing servers into them",
	}
	cmd.AddCommand(newGroupAdoptCmd(), newGroupShowCmd())
	return cmd
}

type groupOptions struct {
	file     string
	output   string
	waitLock time.Duration // adopt
	command  string
}

func newGroupAdoptCmd() *cobra.Command {
	var o groupOptions
	cmd := &cobra.Command{
		Use:   "adopt GROUP",
		Short: "Record the group's existing servers as its slots",
		Long: `Find the group's existing servers (named GROUP-N or GROUP-N-…, or tagged remint_group and
remint_slot) and record each as the server of its slot, so that the next rebuild replaces
them. Nothing in the cloud is changed. Slots without a server are reported; the next
rebuild creates them. Like rebuild it holds the group's lease (see --wait-lock).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.command = commandLine(cmd, args)
			return runGroupAdopt(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	waitLockFlag(cmd, &o.waitLock)
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runGroupAdopt(ctx context.Context, stdout, stderr io.Writer, group string, o groupOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	env, err := openGroupFor(ctx, o.file, group, stderr, true)
	if err != nil {
		return err
	}
	defer env.Close()
	deps, err := env.groupDeps(orCommand(o.command, "remint group adopt "+group), o.waitLock, nil, nil)
	if err != nil {
		return err
	}
	adopted, notes, err := failover.AdoptGroup(ctx, deps)
	if err != nil {
		return classify(err)
	}
	if o.output == "json" {
		return writeJSON(stdout, struct {
			Group   string             `json:"group"`
			Adopted []failover.Adopted `json:"adopted"`
			Notes   []string           `json:"notes"`
		}{group, adopted, notes})
	}
	for _, a := range adopted {
		fmt.Fprintf(stdout, "slot %s-%d: adopted server %s (%s), image %s\n", group, a.Slot, a.ServerName, a.ServerID, orDash(a.ImageVersion))
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return nil
}

func newGroupShowCmd() *cobra.Command {
	var o groupOptions
	cmd := &cobra.Command{
		Use:   "show GROUP",
		Short: "Show the group's slots, servers, images, addresses, health and orphans",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGroupShow(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

// slotView is one line of `group show`.
type slotView struct {
	Slot         int    `json:"slot"`
	ServerID     string `json:"server_id,omitempty"`
	ServerName   string `json:"server_name,omitempty"`
	Status       string `json:"status,omitempty"`
	ImageID      string `json:"image_id,omitempty"`
	ImageVersion string `json:"image_version,omitempty"`
	FixedIP      string `json:"fixed_ip,omitempty"`
	Address      string `json:"address,omitempty"`
	AddressOn    string `json:"address_on,omitempty"` // "server", "other", "none"
	Health       string `json:"health"`               // healthy, unhealthy: <why>, unknown
	// PendingUpdates are the updates the last in-place run left pending (not security, or
	// failed); absent until an in-place run has looked.
	PendingUpdates *int `json:"pending_updates,omitempty"`
}

type groupView struct {
	Group         string     `json:"group"`
	Count         int        `json:"count"`
	Slots         []slotView `json:"slots"`
	LatestRollout string     `json:"latest_rollout,omitempty"`
	RolloutStatus string     `json:"rollout_status,omitempty"`
	// Orphans are servers tagged with the group that nothing records or keeps.
	Orphans []failover.Orphan `json:"orphans"`
}

func runGroupShow(ctx context.Context, stdout, stderr io.Writer, group string, o groupOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	env, err := openGroupFor(ctx, o.file, group, stderr, true)
	if err != nil {
		return err
	}
	defer env.Close()
	ex, err := env.executor(nil)
	if err != nil {
		return err
	}
	prober, _, _, err := failover.ProbesFor(env.spec, nil)
	if err != nil {
		return err
	}
	slots, err := env.store.Slots(ctx, group)
	if err != nil {
		return err
	}
	servers, err := env.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: group + "-"})
	if err != nil {
		return fmt.Errorf("list servers of group %s: %w", group, err)
	}
	byID := map[string]openstack.Server{}
	for _, s := range servers {
		byID[s.ID] = s
	}
	addrs, err := ex.LookupAddresses(ctx)
	if err != nil {
		return err
	}
	orphans, err := ex.Orphans(ctx, time.Now())
	if err != nil {
		return err
	}
	view := groupView{Group: group, Count: env.spec.Count, Orphans: append([]failover.Orphan{}, orphans...)}
	if r, err := env.store.LatestRollout(ctx, group); err == nil {
		view.LatestRollout, view.RolloutStatus = r.ID, r.Status
	}
	pending, err := inplace.PendingUpdates(ctx, env.store, group)
	if err != nil {
		return err
	}
	recorded := map[int]int{}
	for i, sl := range slots {
		recorded[sl.Slot] = i
	}
	for slot := range env.spec.Count {
		v := slotView{Slot: slot, Health: "unknown"}
		var port string
		if i, ok := recorded[slot]; ok {
			sl := slots[i]
			v.ServerID, v.ServerName, v.ImageID, v.ImageVersion = sl.ServerID, sl.ServerName, sl.ImageID, sl.ImageVersion
			if n, ok := pending[sl.ServerID]; ok {
				v.PendingUpdates = &n
			}
			if s, ok := byID[sl.ServerID]; ok {
				v.Status, v.FixedIP = s.Status, s.AccessIP
				if ports, err := env.cloud.PortsOfServer(ctx, s.ID); err == nil && len(ports) > 0 {
					port = ports[0].ID
				}
				if prober != nil && s.AccessIP != "" {
					pctx, cancel := context.WithTimeout(ctx, env.spec.Health.Timeout)
					if err := prober.Probe(pctx, s.AccessIP); err != nil {
						v.Health = "unhealthy: " + err.Error()
					} else {
						v.Health = "healthy"
					}
					cancel()
				}
			} else {
				v.Status = "MISSING"
			}
		}
		if fip, ok := addrs[slot]; ok {
			v.Address = fip.Address
			switch {
			case fip.PortID == "":
				v.AddressOn = "none"
			case fip.PortID == port:
				v.AddressOn = "server"
			default:
				v.AddressOn = "other"
			}
		}
		view.Slots = append(view.Slots, v)
	}
	if o.output == "json" {
		return writeJSON(stdout, view)
	}
	fmt.Fprintf(stdout, "group %s: %d slots", group, env.spec.Count)
	if view.LatestRollout != "" {
		fmt.Fprintf(stdout, ", latest rollout %s (%s)", view.LatestRollout, view.RolloutStatus)
	}
	fmt.Fprintln(stdout)
	for _, v := range view.Slots {
		if v.ServerID == "" {
			fmt.Fprintf(stdout, "  %s-%d: no server\n", group, v.Slot)
			continue
		}
		fmt.Fprintf(stdout, "  %s-%d: %s %s %s image %s ip %s address %s (%s) %s", group, v.Slot, v.ServerName, short(v.ServerID), v.Status,
			orDash(v.ImageVersion), orDash(v.FixedIP), orDash(v.Address), orDash(v.AddressOn), v.Health)
		if v.PendingUpdates != nil {
			fmt.Fprintf(stdout, ", %d pending updates", *v.PendingUpdates)
		}
		fmt.Fprintln(stdout)
	}
	for _, o := range view.Orphans {
		fmt.Fprintf(stdout, "  orphan: %s\n", o)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
