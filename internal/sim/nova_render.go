package sim

import (
	"encoding/base64"
	"maps"
	"slices"
	"strings"
)

// Rendering of Nova servers, field by field per microversion (references 09–12, 49, 50).

// serverViewLocked renders a server as GET /servers/{id} (show) or one entry of
// /servers/detail, with the fields of microversion mv (references 10, 11, 12, 50).
func (s *Sim) serverViewLocked(srv *Server, mv microversion, show bool) map[string]any {
	ports := s.portsOfDeviceLocked(srv.ID)
	v := map[string]any{
		"id":        srv.ID,
		"name":      srv.Name,
		"status":    srv.Status,
		"tenant_id": srv.ProjectID,
		"user_id":   srv.UserID,
		"metadata":  maps2(srv.Metadata),
		"hostId":    srv.HostID,
		"image": map[string]any{"id": srv.ImageID, "links": []any{
			map[string]any{"rel": "bookmark", "href": s.novaBookmark("images", srv.ImageID)},
		}},
		"flavor":                               s.serverFlavorView(srv.FlavorID, mv),
		"created":                              srv.Created.UTC().Format(novaTimeFormat),
		"updated":                              srv.Updated.UTC().Format(novaTimeFormat),
		"addresses":                            s.addressesLocked(ports),
		"accessIPv4":                           "",
		"accessIPv6":                           "",
		"links":                                s.novaLinks("servers", srv.ID),
		"OS-DCF:diskConfig":                    "MANUAL",
		"progress":                             0,
		"OS-EXT-AZ:availability_zone":          novaAZ,
		"config_drive":                         "",
		"key_name":                             nullIfEmpty(srv.KeyName),
		"OS-SRV-USG:launched_at":               nil,
		"OS-SRV-USG:terminated_at":             nil,
		"OS-EXT-SRV-ATTR:host":                 nil,
		"OS-EXT-SRV-ATTR:instance_name":        "instance-" + srv.ID[:8],
		"OS-EXT-SRV-ATTR:hypervisor_hostname":  nil,
		"OS-EXT-STS:task_state":                nullIfEmpty(srv.TaskState),
		"OS-EXT-STS:vm_state":                  srv.VMState,
		"OS-EXT-STS:power_state":               srv.PowerState,
		"os-extended-volumes:volumes_attached": []any{},
	}
	if !srv.Launched.IsZero() {
		v["OS-SRV-USG:launched_at"] = srv.Launched.UTC().Format("2006-01-02T15:04:05.000000")
	}
	if !srv.Terminated.IsZero() {
		v["OS-SRV-USG:terminated_at"] = srv.Terminated.UTC().Format("2006-01-02T15:04:05.000000")
	}
	if srv.HostID != "" {
		v["OS-EXT-SRV-ATTR:host"] = novaHost
		v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = novaHost
	}
	if len(ports) > 0 {
		sgs := make([]any, 0, len(srv.SecurityGroups))
		for _, g := range srv.SecurityGroups {
			sgs = append(sgs, map[string]any{"name": g})
		}
		v["security_groups"] = sgs
	}
	if srv.Fault != nil {
		v["fault"] = map[string]any{
			"code": srv.Fault.Code, "message": srv.Fault.Message, "details": srv.Fault.Details,
			"created": srv.Fault.Created.UTC().Format(novaTimeFormat),
		}
	}
	if mv.atLeast(3) {
		var ud any
		if len(srv.UserData) > 0 {
			ud = base64.StdEncoding.EncodeToString(srv.UserData)
		}
		v["OS-EXT-SRV-ATTR:reservation_id"] = "r-" + srv.ID[9:13] + srv.ID[14:18]
		v["OS-EXT-SRV-ATTR:launch_index"] = 0
		v["OS-EXT-SRV-ATTR:hostname"] = novaHostname(srv.Name)
		v["OS-EXT-SRV-ATTR:kernel_id"] = ""
		v["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
		v["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
		v["OS-EXT-SRV-ATTR:user_data"] = ud
	}
	if mv.atLeast(9) {
		v["locked"] = false
	}
	if mv.atLeast(16) {
		hs := ""
		if srv.HostID != "" {
			hs = "UP"
		}
		v["host_status"] = hs
	}
	if mv.atLeast(19) {
		v["description"] = nil
	}
	if mv.atLeast(26) {
		v["tags"] = slices.Clone(srv.Tags)
	}
	if mv.atLeast(63) {
		v["trusted_image_certificates"] = nil
	}
	if mv.atLeast(71) && show {
		v["server_groups"] = []any{}
	}
	if mv.atLeast(73) {
		v["locked_reason"] = nil
	}
	return v
}

// serverFlavorView is the server's flavor: a link before 2.47, the embedded flavor after.
func (s *Sim) serverFlavorView(id string, mv microversion) map[string]any {
	fl := s.st.flavors[id]
	if !mv.atLeast(47) || fl == nil {
		return map[string]any{"id": id, "links": []any{
			map[string]any{"rel": "bookmark", "href": s.novaBookmark("flavors", id)},
		}}
	}
	return map[string]any{
		"vcpus": fl.VCPUs, "ram": fl.RAM, "disk": fl.Disk, "ephemeral": fl.Ephemeral,
		"swap": fl.Swap, "original_name": fl.Name, "extra_specs": map[string]any{},
	}
}

// addressesLocked groups a server's addresses by network name: each port's fixed IPs, then
// the floating IPs associated with that port.
func (s *Sim) addressesLocked(ports []*Port) map[string]any {
	out := map[string]any{}
	for _, p := range ports {
		name := p.NetworkID
		if n := s.st.networks[p.NetworkID]; n != nil {
			name = n.Name
		}
		list, _ := out[name].([]any)
		for _, ip := range p.FixedIPs {
			list = append(list, novaAddress(ip.IPAddress, "fixed", p.MACAddress))
		}
		for _, fid := range slices.Sorted(maps.Keys(s.st.fips)) {
			if f := s.st.fips[fid]; f.PortID == p.ID {
				list = append(list, novaAddress(f.FloatingIP, "floating", p.MACAddress))
			}
		}
		out[name] = list
	}
	return out
}

func novaAddress(addr, typ, mac string) map[string]any {
	version := 4
	if strings.Contains(addr, ":") {
		version = 6
	}
	return map[string]any{"version": version, "addr": addr, "OS-EXT-IPS:type": typ, "OS-EXT-IPS-MAC:mac_addr": mac}
}

func nullIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// novaHostname is the hostname Nova derives from a display name.
func novaHostname(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '_' || r == '.':
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if len(h) > 63 {
		h = h[:63]
	}
	if h == "" {
		h = "server"
	}
	return h
}
