package sim

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Glance's PATCH takes a JSON patch in one of two media types. v2.1 (json_schema_version
// 10) is what every current client sends; v2.0 (4) differs in that "add" of an existing
// attribute is a conflict.
var glancePatchTypes = map[string]int{
	"application/openstack-images-v2.0-json-patch": 4,
	"application/openstack-images-v2.1-json-patch": 10,
}

// glanceChange is one decoded patch operation.
type glanceChange struct {
	op    string // add, replace, remove
	path  string // the attribute (depth-1 pointer, decoded)
	value json.RawMessage
}

// glanceUpdateImage applies a JSON patch (references 23–25, 28, 30). All changes apply or
// none: they are made on a copy that replaces the stored image only when every one passed.
func (s *Sim) glanceUpdateImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	schemaVersion, ok := glancePatchTypes[mt]
	if !ok {
		w.Header().Set("Accept-Patch", "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch")
		s.writeError(w, svcImage, http.StatusUnsupportedMediaType,
			"The request media type "+r.Header.Get("Content-Type")+" is not supported by this server.")
		return
	}
	changes, gerr := glanceDecodePatch(r, schemaVersion)
	if gerr != nil {
		s.writeError(w, svcImage, gerr.status, gerr.msg)
		return
	}

	s.mu.Lock()
	img := s.imageLocked(id)
	if img == nil {
		s.mu.Unlock()
		s.glanceNotFound(w, id)
		return
	}
	next := *img
	next.Properties = maps.Clone(img.Properties)
	if next.Properties == nil {
		next.Properties = map[string]string{}
	}
	next.Tags = slices.Clone(img.Tags)
	for _, c := range changes {
		if gerr := glanceApplyChange(&next, c, schemaVersion); gerr != nil {
			s.mu.Unlock()
			s.writeError(w, svcImage, gerr.status, gerr.msg)
			return
		}
	}
	if gerr := glanceCheckQuotas(&next); gerr != nil {
		s.mu.Unlock()
		s.writeError(w, svcImage, gerr.status, gerr.msg)
		return
	}
	next.Updated = time.Now().UTC()
	*img = next
	out := glanceImageJSON(img)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// glanceDecodePatch parses and validates the request body as Glance's deserializer does,
// before the image is looked up.
func glanceDecodePatch(r *http.Request, schemaVersion int) ([]glanceChange, *glanceErr) {
	var body json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return nil, &glanceErr{http.StatusBadRequest, "Malformed JSON in request body."}
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, &glanceErr{http.StatusBadRequest, "Request body must be a JSON array of operation objects."}
	}
	changes := make([]glanceChange, 0, len(raw))
	for _, rc := range raw {
		c, gerr := glanceDecodeChange(rc, schemaVersion)
		if gerr != nil {
			return nil, gerr
		}
		changes = append(changes, c)
	}
	return changes, nil
}

func glanceDecodeChange(rc map[string]json.RawMessage, schemaVersion int) (glanceChange, *glanceErr) {
	var c glanceChange
	var pointer string
	if schemaVersion == 4 {
		// v2.0 form: {"replace": "/name", "value": "x"}
		var found []string
		for _, op := range []string{"add", "remove", "replace"} {
			if _, ok := rc[op]; ok {
				found = append(found, op)
			}
		}
		if len(found) != 1 {
			return c, &glanceErr{http.StatusBadRequest, `Operation objects must contain exactly one member named "add", "remove", or "replace".`}
		}
		c.op = found[0]
		if json.Unmarshal(rc[c.op], &pointer) != nil {
			return c, &glanceErr{http.StatusBadRequest, fmt.Sprintf(`Unable to find '%s' in JSON Schema change`, c.op)}
		}
	} else {
		opRaw, ok := rc["op"]
		if !ok || json.Unmarshal(opRaw, &c.op) != nil {
			return c, &glanceErr{http.StatusBadRequest, "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace."}
		}
		if !slices.Contains([]string{"add", "remove", "replace"}, c.op) {
			return c, &glanceErr{http.StatusBadRequest, "Invalid operation: `" + c.op + "`. It must be one of the following: add, remove, replace."}
		}
		pRaw, ok := rc["path"]
		if !ok || json.Unmarshal(pRaw, &pointer) != nil {
			return c, &glanceErr{http.StatusBadRequest, "Unable to find '" + "path" + "' in JSON Schema change"}
		}
	}
	path, gerr := glanceDecodePointer(pointer)
	if gerr != nil {
		return c, gerr
	}
	// Only locations may be addressed below the top level (Glance's _path_depth_limits);
	// "/tags/-" is therefore refused (reference 24).
	if len(path) != 1 {
		return c, &glanceErr{http.StatusBadRequest, "Invalid JSON pointer for this resource: '/" + strings.Join(path, "/") + "'"}
	}
	c.path = path[0]
	if c.op != "remove" {
		v, ok := rc["value"]
		if !ok {
			return c, &glanceErr{http.StatusBadRequest, `Operation "` + c.op + `" requires a member named "value".`}
		}
		c.value = v
	}
	if gerr := glanceCheckWritable(c.path); gerr != nil {
		return c, gerr
	}
	if c.op != "remove" {
		// Validate the value against the schema now, as Glance's deserializer does.
		if gerr := glanceSetAttr(&Image{Status: "queued"}, c.path, c.value, true); gerr != nil && gerr.status == http.StatusBadRequest {
			return c, gerr
		}
	}
	return c, nil
}

// glanceDecodePointer splits an RFC 6901 JSON pointer into its unescaped segments.
func glanceDecodePointer(pointer string) ([]string, *glanceErr) {
	if !strings.HasPrefix(pointer, "/") {
		return nil, &glanceErr{http.StatusBadRequest, "Pointer `" + pointer + "` does not start with \"/\"."}
	}
	if strings.HasSuffix(pointer, "/") {
		return nil, &glanceErr{http.StatusBadRequest, "Pointer `" + pointer + "` end with \"/\"."}
	}
	if strings.Contains(pointer, "//") {
		return nil, &glanceErr{http.StatusBadRequest, "Pointer `" + pointer + "` contains adjacent \"/\"."}
	}
	parts := strings.Split(pointer[1:], "/")
	for i, p := range parts {
		for j := 0; j < len(p); j++ {
			if p[j] == '~' && (j+1 >= len(p) || p[j+1] != '0' && p[j+1] != '1') {
				return nil, &glanceErr{http.StatusBadRequest, "Pointer `" + pointer + "` contains \"~\" not part of a recognized escape sequence."}
			}
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// glanceApplyChange applies one change to img with Glance's semantics (images.py
// _do_add/_do_replace/_do_remove): add creates or overwrites; replace needs the property to
// exist (409); remove of a base attribute is 403 and of a missing property 409.
func glanceApplyChange(img *Image, c glanceChange, schemaVersion int) *glanceErr {
	base := glanceBaseAttrs[c.path]
	_, isProp := img.Properties[c.path]
	switch c.op {
	case "add":
		if schemaVersion == 4 && (base || isProp) {
			return &glanceErr{http.StatusConflict, "Property " + c.path + " already present."}
		}
		return glanceSetAttr(img, c.path, c.value, false)
	case "replace":
		if !base && !isProp {
			return &glanceErr{http.StatusConflict, "Property " + c.path + " does not exist."}
		}
		return glanceSetAttr(img, c.path, c.value, false)
	default: // remove
		switch {
		case base:
			return &glanceErr{http.StatusForbidden, "Property " + c.path + " may not be removed."}
		case isProp:
			delete(img.Properties, c.path)
			return nil
		}
		return &glanceErr{http.StatusConflict, "Property " + c.path + " does not exist."}
	}
}
