package sim

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Nova server creation: request validation in Nova's order, quotas, ports, and the
// asynchronous boot through the driver (BUILD → ACTIVE or ERROR).

// novaCreateRequest is the body of POST /servers.
type novaCreateRequest struct {
	Server *struct {
		Name           *string         `json:"name"`
		ImageRef       *string         `json:"imageRef"`
		FlavorRef      json.RawMessage `json:"flavorRef"`
		Networks       json.RawMessage `json:"networks"`
		KeyName        *string         `json:"key_name"`
		SecurityGroups []struct {
			Name string `json:"name"`
		} `json:"security_groups"`
		UserData         *string         `json:"user_data"`
		Metadata         json.RawMessage `json:"metadata"`
		Tags             json.RawMessage `json:"tags"`
		AvailabilityZone *string         `json:"availability_zone"`
		MinCount         json.RawMessage `json:"min_count"`
		MaxCount         json.RawMessage `json:"max_count"`
		ReturnResID      bool            `json:"return_reservation_id"`
	} `json:"server"`
}

// novaBadRequest is a validation failure with the status Nova answers.
type novaBadRequest struct {
	status int
	msg    string
}

func badReq(format string, args ...any) *novaBadRequest {
	return &novaBadRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// novaServerPlan is a validated create request.
type novaServerPlan struct {
	name       string
	image      *Image
	flavor     *Flavor
	networks   []*Network
	keyName    string
	sgs        []string
	userData   []byte
	metadata   map[string]string
	tags       []string
	minCount   int
	maxCount   int
	returnResv bool
}

func (s *Sim) novaCreateServer(w http.ResponseWriter, r *http.Request, mv microversion) {
	var req novaCreateRequest
	if !s.decodeNovaBody(w, r, &req) {
		return
	}
	if req.Server == nil {
		s.novaError(w, http.StatusBadRequest, invalidInput("server", "{}. 'server' is a required property"))
		return
	}
	s.mu.Lock()
	plan, bad := s.planServerLocked(&req, mv)
	if bad != nil {
		s.mu.Unlock()
		s.novaError(w, bad.status, bad.msg)
		return
	}
	count, bad := s.quotaCountLocked(plan)
	if bad != nil {
		s.mu.Unlock()
		s.novaError(w, bad.status, bad.msg)
		return
	}
	resv := "r-" + randomBase32(8)
	var first *Server
	var ids []string
	for i := 0; i < count; i++ {
		name := plan.name
		if plan.maxCount > 1 {
			name = fmt.Sprintf("%s-%d", plan.name, i+1)
		}
		srv := s.newServerLocked(plan, name)
		ids = append(ids, srv.ID)
		if first == nil {
			first = srv
		}
	}
	sgs := plan.sgs
	s.mu.Unlock()

	for _, id := range ids {
		s.goAsync(func(ctx context.Context) { s.bootServer(ctx, id) })
	}
	if plan.returnResv {
		writeJSON(w, http.StatusAccepted, map[string]any{"reservation_id": resv})
		return
	}
	sgList := make([]any, 0, len(sgs))
	for _, g := range sgs {
		sgList = append(sgList, map[string]any{"name": g})
	}
	w.Header().Set("Location", s.novaURL("servers", first.ID))
	writeJSON(w, http.StatusAccepted, map[string]any{"server": map[string]any{
		"id":                first.ID,
		"links":             s.novaLinks("servers", first.ID),
		"OS-DCF:diskConfig": "MANUAL",
		"security_groups":   sgList,
		"adminPass":         randomAdminPass(),
	}})
}

// planServerLocked validates a create request the way Nova's API does, in Nova's order:
// body schema first, then the referenced resources.
func (s *Sim) planServerLocked(req *novaCreateRequest, mv microversion) (*novaServerPlan, *novaBadRequest) {
	in := req.Server
	p := &novaServerPlan{metadata: map[string]string{}, tags: []string{}, minCount: 1, maxCount: 1}
	if in.Name == nil {
		return nil, badReq("%s", invalidInput("server", "'name' is a required property"))
	}
	p.name = *in.Name
	if p.name == "" || len(p.name) > 255 || strings.TrimSpace(p.name) != p.name {
		return nil, badReq("%s", invalidInput("name", fmt.Sprintf("%s. '%s' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'", p.name, p.name)))
	}
	if len(in.FlavorRef) == 0 {
		return nil, badReq("%s", invalidInput("server", "'flavorRef' is a required property"))
	}
	var flavorRef string
	if err := json.Unmarshal(in.FlavorRef, &flavorRef); err != nil {
		var n json.Number
		if err := json.Unmarshal(in.FlavorRef, &n); err != nil {
			return nil, badReq("%s", invalidInput("flavorRef", string(in.FlavorRef)+". Invalid flavorRef"))
		}
		flavorRef = n.String()
	}

	// networks: a list, or "auto"/"none" from 2.37 on, where it also became required.
	var netReqs []struct {
		UUID    string `json:"uuid"`
		Port    string `json:"port"`
		FixedIP string `json:"fixed_ip"`
		Tag     string `json:"tag"`
	}
	netMode := "default"
	switch {
	case len(in.Networks) == 0 || string(in.Networks) == "null":
		if mv.atLeast(37) {
			return nil, badReq("%s", invalidInput("server", "'networks' is a required property"))
		}
	case in.Networks[0] == '"':
		var mode string
		_ = json.Unmarshal(in.Networks, &mode)
		if !mv.atLeast(37) || (mode != "auto" && mode != "none") {
			return nil, badReq("%s", invalidInput("networks", fmt.Sprintf("%s. '%s' is not of type 'array'", mode, mode)))
		}
		netMode = mode
	default:
		if err := json.Unmarshal(in.Networks, &netReqs); err != nil {
			return nil, badReq("%s", invalidInput("networks", string(in.Networks)+". Not a list of networks"))
		}
		netMode = "list"
	}

	if in.UserData != nil {
		if len(*in.UserData) > 65535 {
			return nil, badReq("%s", invalidInput("user_data", "is too long"))
		}
		data, err := base64.StdEncoding.DecodeString(*in.UserData)
		if err != nil {
			return nil, badReq("User data needs to be valid base 64.")
		}
		p.userData = data
	}
	if len(in.Metadata) > 0 && string(in.Metadata) != "null" {
		md, bad := parseNovaMetadata(in.Metadata, "metadata")
		if bad != nil {
			return nil, bad
		}
		p.metadata = md
	}
	if len(in.Tags) > 0 {
		if !mv.atLeast(52) {
			return nil, badReq("%s", invalidInput("server", "Additional properties are not allowed ('tags' was unexpected)"))
		}
		tags, bad := parseNovaTags(in.Tags)
		if bad != nil {
			return nil, bad
		}
		p.tags = tags
	}
	var err error
	if p.minCount, err = parseCount(in.MinCount, 1); err != nil {
		return nil, badReq("%s", invalidInput("min_count", string(in.MinCount)+". "+err.Error()))
	}
	if p.maxCount, err = parseCount(in.MaxCount, p.minCount); err != nil {
		return nil, badReq("%s", invalidInput("max_count", string(in.MaxCount)+". "+err.Error()))
	}
	if p.minCount > p.maxCount {
		return nil, badReq("min_count must be <= max_count")
	}
	p.returnResv = in.ReturnResID
	if in.AvailabilityZone != nil && *in.AvailabilityZone != "" && *in.AvailabilityZone != novaAZ {
		return nil, badReq("The requested availability zone is not available")
	}

	// Referenced resources.
	if in.KeyName != nil && *in.KeyName != "" {
		if s.st.keypairs[*in.KeyName] == nil {
			return nil, badReq("Invalid key_name provided.")
		}
		p.keyName = *in.KeyName
	}
	for _, g := range in.SecurityGroups {
		if g.Name == "" {
			return nil, badReq("%s", invalidInput("security_groups", "'name' is a required property"))
		}
		// Neutron knows one group, "default"; Nova accepts it by name or id.
		if g.Name != DefaultSecurityGroup && g.Name != s.defaultSecurityGroupIDLocked() {
			return nil, badReq("Security group %s not found.", g.Name)
		}
		if !slices.Contains(p.sgs, DefaultSecurityGroup) {
			p.sgs = append(p.sgs, DefaultSecurityGroup)
		}
	}
	if len(p.sgs) == 0 {
		p.sgs = []string{DefaultSecurityGroup}
	}
	if in.ImageRef == nil || *in.ImageRef == "" {
		return nil, badReq("Can not find requested image")
	}
	img := s.novaImageLocked(lastPathSegment(*in.ImageRef))
	if img == nil {
		return nil, badReq("Can not find requested image")
	}
	if img.Status != "active" {
		return nil, badReq("Image %s is not active.", img.ID)
	}
	p.image = img
	fl := s.st.flavors[lastPathSegment(flavorRef)]
	if fl == nil {
		return nil, badReq("Invalid flavorRef provided.")
	}
	if fl.Disk > 0 && img.MinDisk > fl.Disk {
		return nil, badReq("Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.", int64(fl.Disk)<<30, int64(img.MinDisk)<<30)
	}
	if img.MinRAM > fl.RAM {
		return nil, badReq("Flavor's memory is too small for requested image.")
	}
	p.flavor = fl

	switch netMode {
	case "none":
	case "list":
		for _, nr := range netReqs {
			if nr.Port != "" {
				return nil, badReq("Booting with a pre-created port (%s) is not supported by this simulator; pass the network uuid instead.", nr.Port)
			}
			if nr.FixedIP != "" {
				return nil, badReq("Requesting fixed_ip %s is not supported by this simulator.", nr.FixedIP)
			}
			if !isUUID(nr.UUID) {
				return nil, badReq("Bad networks format: network uuid is not in proper format (%s)", nr.UUID)
			}
			n := s.st.networks[nr.UUID]
			if n == nil {
				return nil, badReq("Network %s could not be found.", nr.UUID)
			}
			p.networks = append(p.networks, n)
		}
	default: // "auto", or no networks field before 2.37: every available network
		var avail []*Network
		for _, id := range slices.Sorted(maps.Keys(s.st.networks)) {
			if n := s.st.networks[id]; !n.External && (n.Shared || n.ProjectID == s.ident.projectID) {
				avail = append(avail, n)
			}
		}
		switch {
		case len(avail) > 1:
			return nil, &novaBadRequest{status: http.StatusConflict,
				msg: "Multiple possible networks found, use a Network ID to be more specific."}
		case len(avail) == 0 && netMode == "auto":
			return nil, badReq("Unable to automatically allocate a network for project %s", s.ident.projectID)
		}
		p.networks = avail
	}
	return p, nil
}

func parseCount(raw json.RawMessage, def int) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	var n int
	switch t := v.(type) {
	case float64:
		n = int(t)
		if float64(n) != t {
			return 0, fmt.Errorf("is not of type 'integer'")
		}
	case string:
		var err error
		if n, err = strconv.Atoi(t); err != nil {
			return 0, fmt.Errorf("is not of type 'integer'")
		}
	default:
		return 0, fmt.Errorf("is not of type 'integer'")
	}
	if n < 1 {
		return 0, fmt.Errorf("is less than the minimum of 1")
	}
	return n, nil
}

// quotaCountLocked returns how many servers to create (between min and max count) within
// the instances, cores and RAM quotas, or Nova's 403 when not even min_count fit.
func (s *Sim) quotaCountLocked(p *novaServerPlan) (int, *novaBadRequest) {
	used := s.usageLocked()
	lim := s.st.limits
	fit := func(n int) (string, int, int, int) {
		switch {
		case lim.MaxInstances >= 0 && used.instances+n > lim.MaxInstances:
			return "instances", n, used.instances, lim.MaxInstances
		case lim.MaxCores >= 0 && used.cores+n*p.flavor.VCPUs > lim.MaxCores:
			return "cores", n * p.flavor.VCPUs, used.cores, lim.MaxCores
		case lim.MaxRAM >= 0 && used.ram+n*p.flavor.RAM > lim.MaxRAM:
			return "ram", n * p.flavor.RAM, used.ram, lim.MaxRAM
		}
		return "", 0, 0, 0
	}
	for n := p.maxCount; n >= p.minCount; n-- {
		if res, _, _, _ := fit(n); res == "" {
			return n, nil
		}
	}
	res, req, u, max := fit(p.minCount)
	return 0, &novaBadRequest{status: http.StatusForbidden,
		msg: fmt.Sprintf("Quota exceeded for %s: Requested %d, but already used %d of %d %s", res, req, u, max, res)}
}

type novaUsage struct{ instances, cores, ram int }

// usageLocked counts what the project's servers use, deleting ones included (as Nova
// counts an instance until it is gone).
func (s *Sim) usageLocked() novaUsage {
	var u novaUsage
	for _, srv := range s.st.servers {
		u.instances++
		if fl := s.st.flavors[srv.FlavorID]; fl != nil {
			u.cores += fl.VCPUs
			u.ram += fl.RAM
		}
	}
	return u
}

// newServerLocked records a new server in BUILD and creates its ports. When a port cannot
// be created the server is still accepted and fails its build, as Nova's compute does.
func (s *Sim) newServerLocked(p *novaServerPlan, name string) *Server {
	now := time.Now().UTC()
	srv := &Server{
		ID: newUUID(), Name: name, ProjectID: s.ident.projectID, UserID: s.ident.userID,
		ImageID: p.image.ID, FlavorID: p.flavor.ID, KeyName: p.keyName,
		Status: "BUILD", TaskState: "scheduling", VMState: "building",
		Metadata: maps2(p.metadata), Tags: slices.Clone(p.tags), UserData: p.userData,
		SecurityGroups: slices.Clone(p.sgs), Created: now, Updated: now,
	}
	for _, n := range p.networks {
		srv.NetworkIDs = append(srv.NetworkIDs, n.ID)
	}
	s.st.servers[srv.ID] = srv
	for _, n := range p.networks {
		if _, err := s.createPortLocked(n, "", srv.ID, "compute:nova", slices.Clone(p.sgs)); err != nil {
			srv.DriverErr = fmt.Sprintf("Build of instance %s aborted: Failed to allocate the network(s): %v", srv.ID, err)
			break
		}
	}
	return srv
}

func maps2(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// bootServer is the compute side of a create: after BootTime it asks the driver to boot
// the server (unless a boot fault is drawn) and records ACTIVE or ERROR. A server deleted
// meanwhile never becomes ACTIVE, and what the driver started for it is released.
func (s *Sim) bootServer(ctx context.Context, id string) {
	if !sleepCtx(ctx, s.cfg.BootTime) {
		return
	}
	s.nside.fipOrder.Lock()
	s.mu.Lock()
	srv := s.st.servers[id]
	if srv == nil || srv.TaskState == "deleting" {
		s.mu.Unlock()
		s.nside.fipOrder.Unlock()
		return
	}
	if srv.DriverErr != "" {
		changes := s.failServerLocked(srv, srv.DriverErr)
		s.mu.Unlock()
		s.novaApplyFIPChanges(ctx, changes)
		s.nside.fipOrder.Unlock()
		return
	}
	srv.TaskState = "spawning"
	srv.HostID = s.novaHostID()
	srv.Updated = time.Now().UTC()
	spec, specErr := s.bootSpecLocked(srv)
	s.mu.Unlock()
	s.nside.fipOrder.Unlock()

	var bootErr error
	switch {
	case specErr != nil:
		bootErr = specErr
	case s.faults.Fails(ctx, "compute.server.boot"):
		bootErr = fmt.Errorf("Injected boot failure")
	case ctx.Err() != nil:
		return
	default:
		bootErr = s.driver.Boot(ctx, spec)
	}
	if ctx.Err() != nil {
		return
	}

	s.nside.fipOrder.Lock()
	s.mu.Lock()
	srv = s.st.servers[id]
	gone := srv == nil || srv.TaskState == "deleting"
	var changes []fipChange
	if !gone {
		if bootErr != nil {
			s.log.Info("server failed to boot", "server", id, "err", bootErr)
			changes = s.failServerLocked(srv, bootErr.Error())
		} else {
			now := time.Now().UTC()
			srv.Status, srv.VMState, srv.TaskState, srv.PowerState = "ACTIVE", "active", "", 1
			srv.Launched, srv.Updated = now, now
		}
	}
	s.mu.Unlock()
	s.novaApplyFIPChanges(ctx, changes)
	s.nside.fipOrder.Unlock()
	if bootErr != nil || gone {
		// Free whatever the driver started; deleting an unknown server is no error.
		if err := s.driver.Delete(ctx, id); err != nil {
			s.log.Warn("release server after failed or cancelled boot", "server", id, "err", err)
		}
	}
}

// failServerLocked puts a server in ERROR with a fault and deallocates its ports, as Nova
// does when a build fails. It returns the floating-IP detaches to apply.
func (s *Sim) failServerLocked(srv *Server, msg string) []fipChange {
	now := time.Now().UTC()
	srv.Status, srv.VMState, srv.TaskState, srv.PowerState = "ERROR", "error", "", 0
	srv.Updated = now
	srv.Fault = &Fault{Code: 500, Message: msg, Details: msg, Created: now}
	var changes []fipChange
	for _, p := range s.portsOfDeviceLocked(srv.ID) {
		changes = append(changes, s.deletePortLocked(p.ID)...)
	}
	return changes
}

func (s *Sim) novaApplyFIPChanges(ctx context.Context, changes []fipChange) {
	for _, c := range changes {
		if err := s.driver.SetFloatingIP(ctx, c.FloatingIP, c.FixedIP); err != nil {
			s.log.Warn("retarget floating IP", "floating_ip", c.FloatingIP, "fixed_ip", c.FixedIP, "err", err)
		}
	}
}

// bootSpecLocked gathers what the driver needs to boot srv.
func (s *Sim) bootSpecLocked(srv *Server) (BootSpec, error) {
	img := s.novaImageLocked(srv.ImageID)
	if img == nil {
		return BootSpec{}, fmt.Errorf("Image %s could not be found.", srv.ImageID)
	}
	if img.Status != "active" {
		// Deactivated (or otherwise unusable) since the request was accepted: the compute
		// host cannot download it.
		return BootSpec{}, fmt.Errorf("Image %s is not active.", img.ID)
	}
	spec := BootSpec{
		ServerID: srv.ID, Name: srv.Name, ImageID: img.ID, ImageName: img.Name,
		ImageRef: img.DriverRef, ImageProps: maps2(img.Properties),
		KeyName: srv.KeyName, UserData: slices.Clone(srv.UserData), Metadata: maps2(srv.Metadata),
	}
	if ports := s.portsOfDeviceLocked(srv.ID); len(ports) > 0 && len(ports[0].FixedIPs) > 0 {
		spec.FixedIP = ports[0].FixedIPs[0].IPAddress
	}
	if srv.KeyName != "" {
		if kp := s.st.keypairs[srv.KeyName]; kp != nil {
			spec.PublicKey = kp.PublicKey
		}
	}
	return spec, nil
}

// novaImageLocked returns a Glance image that exists (not deleted).
func (s *Sim) novaImageLocked(id string) *Image {
	img := s.st.images[id]
	if img == nil || img.Status == "deleted" || img.Status == "pending_delete" {
		return nil
	}
	return img
}

// novaHostID is Nova's hostId: sha224(project id + host).
func (s *Sim) novaHostID() string {
	h := sha256.Sum224([]byte(s.ident.projectID + novaHost))
	return hex.EncodeToString(h[:])
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func isUUID(v string) bool { return uuidRE.MatchString(v) }

const adminPassChars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomAdminPass() string {
	b := randomBytes(12)
	for i := range b {
		b[i] = adminPassChars[int(b[i])%len(adminPassChars)]
	}
	return string(b)
}

func randomBase32(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyz234567"
	b := randomBytes(n)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
