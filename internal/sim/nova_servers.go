package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Nova servers: show, rename and delete. Creation and the asynchronous boot are in
// nova_servers_create.go, listing in nova_servers_list.go, rendering in nova_render.go.

func (s *Sim) novaGetServer(w http.ResponseWriter, r *http.Request, mv microversion) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[id]
	if srv == nil {
		s.serverNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": s.serverViewLocked(srv, mv, true)})
}

func (s *Sim) novaUpdateServer(w http.ResponseWriter, r *http.Request, mv microversion) {
	var req struct {
		Server map[string]json.RawMessage `json:"server"`
	}
	if !s.decodeNovaBody(w, r, &req) {
		return
	}
	if len(req.Server) == 0 {
		s.novaError(w, http.StatusBadRequest, invalidInput("server", "{}. {} does not have enough properties"))
		return
	}
	var name *string
	for k, v := range req.Server {
		switch k {
		case "name":
			var n string
			if err := json.Unmarshal(v, &n); err != nil || n == "" || len(n) > 255 || strings.TrimSpace(n) != n {
				s.novaError(w, http.StatusBadRequest, invalidInput("name", string(v)+". Invalid name"))
				return
			}
			name = &n
		case "accessIPv4", "accessIPv6", "OS-DCF:diskConfig":
			// Accepted and, as on clouds without access IPs, not shown.
		default:
			s.novaError(w, http.StatusBadRequest, invalidInput("server", fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k)))
			return
		}
	}
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[id]
	if srv == nil {
		s.serverNotFound(w, id)
		return
	}
	if name != nil {
		srv.Name = *name
		srv.Updated = time.Now().UTC()
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": s.serverViewLocked(srv, mv, true)})
}

// novaDeleteServer marks the server deleting and tears it down in the background: the
// driver stops it, its ports go (floating IPs stay allocated, detached), then it is gone.
func (s *Sim) novaDeleteServer(w http.ResponseWriter, r *http.Request, _ microversion) {
	id := r.PathValue("id")
	s.mu.Lock()
	srv := s.st.servers[id]
	if srv == nil {
		s.mu.Unlock()
		s.serverNotFound(w, id)
		return
	}
	already := srv.TaskState == "deleting"
	srv.TaskState = "deleting"
	srv.Updated = time.Now().UTC()
	s.mu.Unlock()
	if !already {
		s.goAsync(func(ctx context.Context) { s.teardownServer(ctx, id) })
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) teardownServer(ctx context.Context, id string) {
	if err := s.driver.Delete(ctx, id); err != nil {
		s.log.Warn("driver failed to delete server", "server", id, "err", err)
	}
	// Detaches reach the driver in the order of the state changes, as Neutron's do.
	s.nside.fipOrder.Lock()
	defer s.nside.fipOrder.Unlock()
	s.mu.Lock()
	var changes []fipChange
	for _, p := range s.portsOfDeviceLocked(id) {
		changes = append(changes, s.deletePortLocked(p.ID)...)
	}
	s.tombstoneServerLocked(id)
	s.mu.Unlock()
	s.novaApplyFIPChanges(ctx, changes)
}

// Tombstones: Nova soft-deletes instance rows, and GET /servers with changes-since (or
// changes-before) lists servers deleted in that window with status DELETED, so that a
// poller learns about deletions too. The simulator keeps the last tombstoneKeep deleted
// servers for tombstoneTTL; GET /servers/{id} and lists without those filters never show
// them (404 and absent, as in Nova).
const (
	tombstoneKeep = 10000
	tombstoneTTL  = time.Hour
)

// tombstoneServerLocked removes server id and keeps its tombstone.
func (s *Sim) tombstoneServerLocked(id string) {
	srv := s.st.servers[id]
	if srv == nil {
		return
	}
	delete(s.st.servers, id)
	now := time.Now().UTC()
	srv.Status, srv.VMState, srv.TaskState, srv.PowerState = "DELETED", "deleted", "", 0
	srv.Updated, srv.Terminated = now, now
	s.st.deletedServers[id] = srv
	for tid, t := range s.st.deletedServers {
		if now.Sub(t.Updated) > tombstoneTTL {
			delete(s.st.deletedServers, tid)
		}
	}
	for len(s.st.deletedServers) > tombstoneKeep {
		oldest := ""
		for tid, t := range s.st.deletedServers {
			if oldest == "" || t.Updated.Before(s.st.deletedServers[oldest].Updated) {
				oldest = tid
			}
		}
		delete(s.st.deletedServers, oldest)
	}
}

// BootTimes returns, for every server created at or after since that became ACTIVE
// (deleted ones included), when the simulator created it and when it became ACTIVE, on
// the simulator's own clock: what a client's wait for ACTIVE cannot beat.
func (s *Sim) BootTimes(since time.Time) map[string][2]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][2]time.Time{}
	for _, m := range []map[string]*Server{s.st.servers, s.st.deletedServers} {
		for id, srv := range m {
			if !srv.Created.Before(since) && !srv.Launched.IsZero() {
				out[id] = [2]time.Time{srv.Created, srv.Launched}
			}
		}
	}
	return out
}
