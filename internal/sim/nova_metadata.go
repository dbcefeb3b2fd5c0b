package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Nova server metadata (/servers/{id}/metadata[/{key}]) and tags (/servers/{id}/tags,
// microversion >= 2.26).

const (
	novaMaxTags   = 50
	novaMaxTagLen = 60
)

// metadataWritableStates are the vm_states in which Nova lets metadata and tags change.
var metadataWritableStates = []string{"active", "paused", "suspended", "stopped", "shelved", "shelved_offloaded"}

// parseNovaMetadata checks a metadata object: string values, keys of 1–255 characters and
// values of at most 255.
func parseNovaMetadata(raw json.RawMessage, field string) (map[string]string, *novaBadRequest) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, badReq("%s", invalidInput(field, string(raw)+". Not an object"))
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		str, ok := v.(string)
		if !ok {
			return nil, badReq("%s", invalidInput(field+"/"+k, fmt.Sprintf("%v. %v is not of type 'string'", v, v)))
		}
		if k == "" || len(k) > 255 {
			return nil, badReq("%s", invalidInput(field, fmt.Sprintf("%q. Invalid key", k)))
		}
		if len(str) > 255 {
			return nil, badReq("%s", invalidInput(field+"/"+k, "is too long"))
		}
		out[k] = str
	}
	return out, nil
}

func parseNovaTags(raw json.RawMessage) ([]string, *novaBadRequest) {
	var tags []string
	if err := json.Unmarshal(raw, &tags); err != nil {
		return nil, badReq("%s", invalidInput("tags", string(raw)+". Not a list of strings"))
	}
	if len(tags) > novaMaxTags {
		return nil, badReq("%s", invalidInput("tags", fmt.Sprintf("is too long (maximum %d tags)", novaMaxTags)))
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if bad := checkNovaTag(t); bad != nil {
			return nil, bad
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func checkNovaTag(t string) *novaBadRequest {
	if t == "" || len(t) > novaMaxTagLen || strings.ContainsAny(t, "/,") {
		return badReq("%s", invalidInput("tags", fmt.Sprintf("'%s'. Tags must be 1-%d characters without '/' or ','", t, novaMaxTagLen)))
	}
	return nil
}

// metadataServerLocked finds a server whose metadata may change, answering 404/409 itself.
func (s *Sim) metadataServerLocked(w http.ResponseWriter, id, action string, needIdle bool) *Server {
	srv := s.st.servers[id]
	if srv == nil {
		s.serverNotFound(w, id)
		return nil
	}
	if !slices.Contains(metadataWritableStates, srv.VMState) || (needIdle && srv.TaskState != "") {
		s.stateConflict(w, srv, action)
		return nil
	}
	return srv
}

func (s *Sim) novaGetMetadata(w http.ResponseWriter, r *http.Request, _ microversion) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[id]
	if srv == nil {
		s.serverNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"metadata": maps2(srv.Metadata)})
}

// novaSetMetadata answers PUT (replace all) and POST (merge) /servers/{id}/metadata.
func (s *Sim) novaSetMetadata(replace bool) novaHandler {
	return func(w http.ResponseWriter, r *http.Request, _ microversion) {
		var req struct {
			Metadata json.RawMessage `json:"metadata"`
		}
		if !s.decodeNovaBody(w, r, &req) {
			return
		}
		if len(req.Metadata) == 0 || string(req.Metadata) == "null" {
			s.novaError(w, http.StatusBadRequest, invalidInput("metadata", "'metadata' is a required property"))
			return
		}
		md, bad := parseNovaMetadata(req.Metadata, "metadata")
		if bad != nil {
			s.novaError(w, bad.status, bad.msg)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		srv := s.metadataServerLocked(w, r.PathValue("id"), "update_instance_metadata", true)
		if srv == nil {
			return
		}
		next := md
		if !replace {
			next = maps2(srv.Metadata)
			for k, v := range md {
				next[k] = v
			}
		}
		if lim := s.st.limits.MaxServerMeta; lim >= 0 && len(next) > lim {
			s.novaError(w, http.StatusForbidden, "Quota exceeded for resources: ['metadata_items'].")
			return
		}
		srv.Metadata = next
		srv.Updated = time.Now().UTC()
		writeJSON(w, http.StatusOK, map[string]any{"metadata": maps2(next)})
	}
}

func (s *Sim) novaGetMetadataItem(w http.ResponseWriter, r *http.Request, _ microversion) {
	id, key := r.PathValue("id"), r.PathValue("key")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[id]
	if srv == nil {
		s.serverNotFound(w, id)
		return
	}
	v, ok := srv.Metadata[key]
	if !ok {
		s.novaError(w, http.StatusNotFound, "Metadata item was not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
}

func (s *Sim) novaSetMetadataItem(w http.ResponseWriter, r *http.Request, _ microversion) {
	var req struct {
		Meta json.RawMessage `json:"meta"`
	}
	if !s.decodeNovaBody(w, r, &req) {
		return
	}
	if len(req.Meta) == 0 || string(req.Meta) == "null" {
		s.novaError(w, http.StatusBadRequest, invalidInput("meta", "'meta' is a required property"))
		return
	}
	md, bad := parseNovaMetadata(req.Meta, "meta")
	if bad != nil {
		s.novaError(w, bad.status, bad.msg)
		return
	}
	key := r.PathValue("key")
	if len(md) != 1 {
		s.novaError(w, http.StatusBadRequest, "Request body contains too many items")
		return
	}
	if _, ok := md[key]; !ok {
		s.novaError(w, http.StatusBadRequest, "Request body and URI mismatch")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.metadataServerLocked(w, r.PathValue("id"), "update_instance_metadata", true)
	if srv == nil {
		return
	}
	_, exists := srv.Metadata[key]
	if lim := s.st.limits.MaxServerMeta; !exists && lim >= 0 && len(srv.Metadata)+1 > lim {
		s.novaError(w, http.StatusForbidden, "Quota exceeded for resources: ['metadata_items'].")
		return
	}
	if srv.Metadata == nil {
		srv.Metadata = map[string]string{}
	}
	srv.Metadata[key] = md[key]
	srv.Updated = time.Now().UTC()
	writeJSON(w, http.StatusOK, map[string]any{"meta": md})
}

func (s *Sim) novaDeleteMetadataItem(w http.ResponseWriter, r *http.Request, _ microversion) {
	key := r.PathValue("key")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.metadataServerLocked(w, r.PathValue("id"), "delete_instance_metadata", true)
	if srv == nil {
		return
	}
	if _, ok := srv.Metadata[key]; !ok {
		s.novaError(w, http.StatusNotFound, "Metadata item was not found")
		return
	}
	delete(srv.Metadata, key)
	srv.Updated = time.Now().UTC()
	w.WriteHeader(http.StatusNoContent)
}

// tagsServerLocked finds the server for a tags call; tags exist from microversion 2.26
// (before it the routes are unknown to Nova: 404).
func (s *Sim) tagsServerLocked(w http.ResponseWriter, r *http.Request, mv microversion, write bool) *Server {
	if !mv.atLeast(26) {
		s.novaError(w, http.StatusNotFound, "The resource could not be found.")
		return nil
	}
	if write {
		return s.metadataServerLocked(w, r.PathValue("id"), "update tag", false)
	}
	srv := s.st.servers[r.PathValue("id")]
	if srv == nil {
		s.serverNotFound(w, r.PathValue("id"))
	}
	return srv
}

func (s *Sim) novaListTags(w http.ResponseWriter, r *http.Request, mv microversion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if srv := s.tagsServerLocked(w, r, mv, false); srv != nil {
		writeJSON(w, http.StatusOK, map[string]any{"tags": slices.Clone(srv.Tags)})
	}
}

func (s *Sim) novaReplaceTags(w http.ResponseWriter, r *http.Request, mv microversion) {
	var req struct {
		Tags json.RawMessage `json:"tags"`
	}
	if !s.decodeNovaBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.tagsServerLocked(w, r, mv, true)
	if srv == nil {
		return
	}
	if len(req.Tags) == 0 {
		s.novaError(w, http.StatusBadRequest, invalidInput("tags", "'tags' is a required property"))
		return
	}
	tags, bad := parseNovaTags(req.Tags)
	if bad != nil {
		s.novaError(w, bad.status, bad.msg)
		return
	}
	srv.Tags = tags
	srv.Updated = time.Now().UTC()
	writeJSON(w, http.StatusOK, map[string]any{"tags": slices.Clone(tags)})
}

func (s *Sim) novaDeleteAllTags(w http.ResponseWriter, r *http.Request, mv microversion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if srv := s.tagsServerLocked(w, r, mv, true); srv != nil {
		srv.Tags = []string{}
		srv.Updated = time.Now().UTC()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Sim) novaCheckTag(w http.ResponseWriter, r *http.Request, mv microversion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.tagsServerLocked(w, r, mv, false)
	if srv == nil {
		return
	}
	tag := r.PathValue("tag")
	if !slices.Contains(srv.Tags, tag) {
		s.novaError(w, http.StatusNotFound, fmt.Sprintf("Tag %s could not be found.", tag))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) novaAddTag(w http.ResponseWriter, r *http.Request, mv microversion) {
	tag := r.PathValue("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.tagsServerLocked(w, r, mv, true)
	if srv == nil {
		return
	}
	if bad := checkNovaTag(tag); bad != nil {
		s.novaError(w, bad.status, bad.msg)
		return
	}
	w.Header().Set("Location", s.novaURL("servers", srv.ID, "tags", tag))
	if slices.Contains(srv.Tags, tag) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if len(srv.Tags) >= novaMaxTags {
		s.novaError(w, http.StatusBadRequest, fmt.Sprintf("The number of tags exceeded the per-server limit %d", novaMaxTags))
		return
	}
	srv.Tags = append(srv.Tags, tag)
	srv.Updated = time.Now().UTC()
	w.WriteHeader(http.StatusCreated)
}

func (s *Sim) novaDeleteTag(w http.ResponseWriter, r *http.Request, mv microversion) {
	tag := r.PathValue("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.tagsServerLocked(w, r, mv, true)
	if srv == nil {
		return
	}
	i := slices.Index(srv.Tags, tag)
	if i < 0 {
		s.novaError(w, http.StatusNotFound, fmt.Sprintf("Tag %s could not be found.", tag))
		return
	}
	srv.Tags = slices.Delete(srv.Tags, i, i+1)
	srv.Updated = time.Now().UTC()
	w.WriteHeader(http.StatusNoContent)
}
