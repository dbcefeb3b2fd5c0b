package sim

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Nova server actions (POST /servers/{id}/action): reboot, os-getConsoleOutput,
// createImage (a snapshot through the driver into a Glance image), os-stop and os-start.

func (s *Sim) novaServerAction(w http.ResponseWriter, r *http.Request, mv microversion) {
	var body map[string]json.RawMessage
	if !s.decodeNovaBody(w, r, &body) {
		return
	}
	if len(body) != 1 {
		s.novaError(w, http.StatusBadRequest, "There is no such action: "+strings.Join(slices.Sorted(maps.Keys(body)), ","))
		return
	}
	id := r.PathValue("id")
	for action, arg := range body {
		switch action {
		case "reboot":
			s.novaReboot(w, id, arg)
		case "os-getConsoleOutput":
			s.novaConsoleOutput(w, r.Context(), id, arg)
		case "createImage":
			s.novaCreateImage(w, id, arg, mv)
		case "os-stop":
			s.novaStartStop(w, id, false)
		case "os-start":
			s.novaStartStop(w, id, true)
		default:
			s.novaError(w, http.StatusBadRequest, "There is no such action: "+action)
		}
	}
}

// stateConflict is Nova's 409 for an action the server's state forbids.
func (s *Sim) stateConflict(w http.ResponseWriter, srv *Server, action string) {
	if srv.TaskState != "" {
		s.novaError(w, http.StatusConflict, fmt.Sprintf("Cannot '%s' instance %s while it is in task_state %s", action, srv.ID, srv.TaskState))
		return
	}
	s.novaError(w, http.StatusConflict, fmt.Sprintf("Cannot '%s' instance %s while it is in vm_state %s", action, srv.ID, srv.VMState))
}

func (s *Sim) novaReboot(w http.ResponseWriter, id string, arg json.RawMessage) {
	var req struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(arg, &req); err != nil || (!strings.EqualFold(req.Type, "SOFT") && !strings.EqualFold(req.Type, "HARD")) {
		s.novaError(w, http.StatusBadRequest, invalidInput("reboot/type", string(arg)+". 'type' must be one of SOFT, HARD"))
		return
	}
	hard := strings.EqualFold(req.Type, "HARD")
	s.mu.Lock()
	srv := s.st.servers[id]
	if srv == nil {
		s.mu.Unlock()
		s.serverNotFound(w, id)
		return
	}
	// Soft reboot needs an active, idle server; hard reboot also rescues a stopped or
	// errored one, or takes over a soft reboot in progress.
	okSoft := srv.VMState == "active" && srv.TaskState == ""
	okHard := slices.Contains([]string{"active", "stopped", "error"}, srv.VMState) &&
		(srv.TaskState == "" || srv.TaskState == "rebooting")
	if (!hard && !okSoft) || (hard && !okHard) {
		s.mu.Unlock()
		s.stateConflict(w, srv, "reboot")
		return
	}
	if hard {
		srv.Status, srv.TaskState = "HARD_REBOOT", "rebooting_hard"
	} else {
		srv.Status, srv.TaskState = "REBOOT", "rebooting"
	}
	srv.Updated = time.Now().UTC()
	task := srv.TaskState
	s.mu.Unlock()
	s.goAsync(func(ctx context.Context) {
		if !sleepCtx(ctx, s.cfg.BootTime) {
			return
		}
		err := s.driver.Reboot(ctx, id, hard)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		srv := s.st.servers[id]
		if srv == nil || srv.TaskState != task {
			return // deleted, or a hard reboot took over
		}
		if err != nil {
			s.log.Info("server failed to reboot", "server", id, "err", err)
			now := time.Now().UTC()
			srv.Status, srv.VMState, srv.TaskState, srv.PowerState = "ERROR", "error", "", 0
			srv.Fault = &Fault{Code: 500, Message: err.Error(), Details: err.Error(), Created: now}
			srv.Updated = now
			return
		}
		srv.Status, srv.VMState, srv.TaskState, srv.PowerState = "ACTIVE", "active", "", 1
		srv.Fault = nil
		srv.Updated = time.Now().UTC()
	})
	w.WriteHeader(http.StatusAccepted)
}

func (s *Sim) novaConsoleOutput(w http.ResponseWriter, ctx context.Context, id string, arg json.RawMessage) {
	var req struct {
		Length json.RawMessage `json:"length"`
	}
	if len(arg) > 0 && string(arg) != "null" {
		if err := json.Unmarshal(arg, &req); err != nil {
			s.novaError(w, http.StatusBadRequest, invalidInput("os-getConsoleOutput", string(arg)+". Not an object"))
			return
		}
	}
	length := -1
	if l := strings.Trim(string(req.Length), `"`); l != "" && l != "null" {
		n, err := strconv.Atoi(l)
		if err != nil || n < -1 {
			s.novaError(w, http.StatusBadRequest, invalidInput("length", l+". Not an integer >= -1"))
			return
		}
		length = n
	}
	s.mu.Lock()
	srv := s.st.servers[id]
	if srv == nil {
		s.mu.Unlock()
		s.serverNotFound(w, id)
		return
	}
	if srv.VMState == "building" {
		s.mu.Unlock()
		s.novaError(w, http.StatusConflict, fmt.Sprintf("Instance %s is not ready", id))
		return
	}
	s.mu.Unlock()
	out, err := s.driver.ConsoleLog(ctx, id)
	if err != nil {
		s.novaError(w, http.StatusConflict, fmt.Sprintf("Guest does not have a console available: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"output": lastLines(out, length)})
}

// lastLines keeps the last n lines of s (all when n < 0).
func lastLines(s string, n int) string {
	if n < 0 {
		return s
	}
	if n == 0 {
		return ""
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// snapshotInheritSkip are base-image properties Nova does not copy into a snapshot.
var snapshotInheritSkip = map[string]bool{
	"image_type": true, "instance_uuid": true, "base_image_ref": true, "image_location": true,
	"owner_project_name": true, "owner_user_name": true, "user_id": true, "boot_roles": true,
}

func (s *Sim) novaCreateImage(w http.ResponseWriter, id string, arg json.RawMessage, mv microversion) {
	var req struct {
		Name     *string         `json:"name"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(arg, &req); err != nil || req.Name == nil {
		s.novaError(w, http.StatusBadRequest, invalidInput("createImage", string(arg)+". 'name' is a required property"))
		return
	}
	if *req.Name == "" || len(*req.Name) > 255 {
		s.novaError(w, http.StatusBadRequest, invalidInput("createImage/name", *req.Name+". Invalid name"))
		return
	}
	md := map[string]string{}
	if len(req.Metadata) > 0 && string(req.Metadata) != "null" {
		var bad *novaBadRequest
		if md, bad = parseNovaMetadata(req.Metadata, "createImage/metadata"); bad != nil {
			s.novaError(w, bad.status, bad.msg)
			return
		}
	}
	s.mu.Lock()
	srv := s.st.servers[id]
	if srv == nil {
		s.mu.Unlock()
		s.serverNotFound(w, id)
		return
	}
	if !slices.Contains([]string{"active", "stopped"}, srv.VMState) || srv.TaskState != "" {
		s.mu.Unlock()
		s.stateConflict(w, srv, "createImage")
		return
	}
	base := s.novaImageLocked(srv.ImageID)
	props := map[string]string{}
	img := &Image{
		ID: newUUID(), Name: *req.Name, Status: "queued", Visibility: "private",
		Owner: s.ident.projectID, Tags: []string{}, Properties: props,
	}
	if base != nil {
		for k, v := range base.Properties {
			if !snapshotInheritSkip[k] {
				props[k] = v
			}
		}
		img.ContainerFormat, img.DiskFormat, img.MinRAM = base.ContainerFormat, base.DiskFormat, base.MinRAM
	}
	if fl := s.st.flavors[srv.FlavorID]; fl != nil {
		img.MinDisk = fl.Disk
	}
	if s.st.limits.MaxImageMeta >= 0 && len(md) > s.st.limits.MaxImageMeta {
		s.mu.Unlock()
		s.novaError(w, http.StatusForbidden, "Quota exceeded for resources: ['metadata_items'].")
		return
	}
	for k, v := range md {
		props[k] = v
	}
	props["image_type"] = "snapshot"
	props["instance_uuid"] = srv.ID
	props["base_image_ref"] = srv.ImageID
	props["image_location"] = "snapshot"
	props["owner_project_name"] = s.cfg.ProjectName
	props["owner_user_name"] = s.cfg.Username
	props["user_id"] = s.ident.userID
	props["boot_roles"] = strings.Join(keystoneRoles, ",")
	now := time.Now().UTC()
	img.Created, img.Updated = now, now
	s.st.images[img.ID] = img
	srv.TaskState = "image_snapshot"
	srv.Updated = now
	imageID := img.ID
	s.mu.Unlock()

	s.goAsync(func(ctx context.Context) { s.snapshotServer(ctx, id, imageID) })
	if mv.atLeast(45) {
		writeJSON(w, http.StatusAccepted, map[string]any{"image_id": imageID})
		return
	}
	w.Header().Set("Location", s.baseURL+"/image/v2/images/"+imageID)
	w.WriteHeader(http.StatusAccepted)
}

// snapshotServer moves a snapshot image queued → saving → active (or killed): the image
// stays ImageSaveTime in each of queued and saving, the driver captures the disk in
// between. The server's task_state follows Nova's image_snapshot → image_uploading → none.
func (s *Sim) snapshotServer(ctx context.Context, serverID, imageID string) {
	clearTask := func() {
		if srv := s.st.servers[serverID]; srv != nil && strings.HasPrefix(srv.TaskState, "image_") {
			srv.TaskState = ""
			srv.Updated = time.Now().UTC()
		}
	}
	// imageAlive reports whether the snapshot image still waits for its data.
	imageAlive := func() *Image {
		img := s.st.images[imageID]
		if img == nil || (img.Status != "queued" && img.Status != "saving") {
			return nil
		}
		return img
	}
	if !sleepCtx(ctx, s.cfg.ImageSaveTime) {
		return
	}
	s.mu.Lock()
	img := imageAlive()
	if img == nil {
		clearTask()
		s.mu.Unlock()
		return
	}
	img.Status, img.Updated = "saving", time.Now().UTC()
	if srv := s.st.servers[serverID]; srv != nil && srv.TaskState == "image_snapshot" {
		srv.TaskState = "image_uploading"
	}
	s.mu.Unlock()

	var ref string
	var err error
	if s.faults.Fails(ctx, "compute.server.snapshot") {
		err = fmt.Errorf("Injected snapshot failure")
	} else if ctx.Err() == nil {
		ref, err = s.driver.Snapshot(ctx, serverID, imageID)
	}
	if ctx.Err() != nil || !sleepCtx(ctx, s.cfg.ImageSaveTime) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clearTask()
	img = imageAlive()
	if img == nil {
		return
	}
	img.Updated = time.Now().UTC()
	if err != nil {
		s.log.Info("snapshot failed", "server", serverID, "image", imageID, "err", err)
		img.Status = "killed"
		return
	}
	img.DriverRef = ref
	img.Size = 1 << 20
	if base := s.novaImageLocked(img.Properties["base_image_ref"]); base != nil && base.Size > 0 {
		img.Size = base.Size
	}
	seed := []byte(imageID + "\x00" + ref)
	sum := md5.Sum(seed)
	img.Checksum = hex.EncodeToString(sum[:])
	h := sha512.Sum512(seed)
	img.MultihashAlgo, img.Multihash = "sha512", hex.EncodeToString(h[:])
	img.Status = "active"
}

// novaStartStop answers os-stop and os-start. The Driver interface has no stop, so a
// stopped server's workload keeps running; only the API state changes.
func (s *Sim) novaStartStop(w http.ResponseWriter, id string, start bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[id]
	if srv == nil {
		s.serverNotFound(w, id)
		return
	}
	action, from := "stop", []string{"active", "error"}
	if start {
		action, from = "start", []string{"stopped"}
	}
	if !slices.Contains(from, srv.VMState) || srv.TaskState != "" {
		s.stateConflict(w, srv, action)
		return
	}
	if start {
		srv.Status, srv.VMState, srv.PowerState = "ACTIVE", "active", 1
	} else {
		srv.Status, srv.VMState, srv.PowerState = "SHUTOFF", "stopped", 4
	}
	srv.Updated = time.Now().UTC()
	w.WriteHeader(http.StatusAccepted)
}
