package sim

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Glance v2 lives under /image, as in devstack: /image/ is the version document and the
// API is /image/v2/…. Every handler holds s.mu only while it reads or changes state.

// glanceKeepDataMax is the largest upload whose bytes the simulator keeps (for download
// round trips); larger uploads keep only size and hashes.
const glanceKeepDataMax = 1 << 20

// glancePropertyQuota and glanceTagQuota are Glance's default image_property_quota and
// image_tag_quota.
const (
	glancePropertyQuota = 128
	glanceTagQuota      = 128
)

func (s *Sim) routesGlance() {
	s.handlePublic("GET /image", "image.versions", s.glanceVersions(http.StatusMultipleChoices))
	s.handlePublic("GET /image/{$}", "image.versions", s.glanceVersions(http.StatusMultipleChoices))
	s.handlePublic("GET /image/versions", "image.versions", s.glanceVersions(http.StatusOK))
	s.handle("GET /image/v2/images", "image.image.list", s.glanceListImages)
	s.handle("POST /image/v2/images", "image.image.create", s.glanceCreateImage)
	s.handle("GET /image/v2/images/{id}", "image.image.get", s.glanceGetImage)
	s.handle("PATCH /image/v2/images/{id}", "image.image.update", s.glanceUpdateImage)
	s.handle("DELETE /image/v2/images/{id}", "image.image.delete", s.glanceDeleteImage)
	s.handle("PUT /image/v2/images/{id}/file", "image.image.upload", s.glanceUploadImage)
	s.handle("GET /image/v2/images/{id}/file", "image.image.download", s.glanceDownloadImage)
	s.handle("POST /image/v2/images/{id}/actions/deactivate", "image.image.deactivate", s.glanceImageAction(false))
	s.handle("POST /image/v2/images/{id}/actions/reactivate", "image.image.reactivate", s.glanceImageAction(true))
	s.handle("PUT /image/v2/images/{id}/tags/{tag}", "image.image.update", s.glanceAddTag)
	s.handle("DELETE /image/v2/images/{id}/tags/{tag}", "image.image.update", s.glanceDeleteTag)
}

// imageLocked returns the image with id, or nil when it does not exist or was deleted.
// Caller holds s.mu.
func (s *Sim) imageLocked(id string) *Image {
	img := s.st.images[id]
	if img == nil || img.Status == "deleted" || img.Status == "pending_delete" {
		return nil
	}
	return img
}

// glanceVersions answers the version document (reference 20) with the given status:
// Glance answers 300 on / and 200 on /versions.
func (s *Sim) glanceVersions(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		href := s.baseURL + "/image/v2/"
		ids := []string{"v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"}
		versions := make([]any, 0, len(ids))
		for i, id := range ids {
			st := "SUPPORTED"
			if i == 0 {
				st = "CURRENT"
			}
			versions = append(versions, newKV().set("id", id).set("status", st).
				set("links", []any{newKV().set("rel", "self").set("href", href)}))
		}
		writeJSON(w, status, map[string]any{"versions": versions})
	}
}

// glanceNoContent answers 204 the way Glance does (with an HTML content type).
func glanceNoContent(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) glanceNotFound(w http.ResponseWriter, id string) {
	s.writeError(w, svcImage, http.StatusNotFound, "No image found with ID "+id)
}

func (s *Sim) glanceGetImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	img := s.imageLocked(id)
	var body *kvObject
	if img != nil {
		body = glanceImageJSON(img)
	}
	s.mu.Unlock()
	if body == nil {
		s.glanceNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// glanceCreateImage creates a queued image record (reference 33).
func (s *Sim) glanceCreateImage(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		s.writeError(w, svcImage, http.StatusBadRequest, "Malformed JSON in request body.")
		return
	}
	now := time.Now().UTC()
	img := &Image{
		ID: newUUID(), Status: "queued", Visibility: "shared", Tags: []string{},
		Properties: map[string]string{}, Created: now, Updated: now,
	}
	s.mu.Lock()
	img.Owner = s.ident.projectID
	s.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(body)) {
		if gerr := glanceCheckWritable(k); gerr != nil && k != "id" {
			s.writeError(w, svcImage, gerr.status, gerr.msg)
			return
		}
		if k == "id" {
			var id string
			if err := json.Unmarshal(body[k], &id); err != nil || !glanceIsUUID(id) {
				s.writeError(w, svcImage, http.StatusBadRequest,
					fmt.Sprintf("Provided object does not match schema 'image': %s does not match '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$'", glancePyRepr(body[k])))
				return
			}
			img.ID = id
			continue
		}
		if gerr := glanceSetAttr(img, k, body[k], true); gerr != nil {
			s.writeError(w, svcImage, gerr.status, gerr.msg)
			return
		}
	}
	if gerr := glanceCheckQuotas(img); gerr != nil {
		s.writeError(w, svcImage, gerr.status, gerr.msg)
		return
	}
	s.mu.Lock()
	if _, exists := s.st.images[img.ID]; exists {
		s.mu.Unlock()
		s.writeError(w, svcImage, http.StatusConflict, "Image with identifier "+img.ID+" already exists!")
		return
	}
	s.st.images[img.ID] = img
	out := glanceImageJSON(img)
	s.mu.Unlock()
	w.Header().Set("Location", s.baseURL+"/image/v2/images/"+img.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Sim) glanceDeleteImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	img := s.imageLocked(id)
	switch {
	case img == nil:
		s.mu.Unlock()
		s.writeError(w, svcImage, http.StatusNotFound, "Failed to find image "+id+" to delete")
		return
	case img.Protected:
		s.mu.Unlock()
		s.writeError(w, svcImage, http.StatusForbidden, "Image "+id+" is protected and cannot be deleted.")
		return
	}
	delete(s.st.images, id)
	s.mu.Unlock()
	glanceNoContent(w)
}

// glanceImageAction deactivates or reactivates an image (references 31, 32). Repeating
// the action is a no-op; any other status is 403, as in Glance's domain model.
func (s *Sim) glanceImageAction(reactivate bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		img := s.imageLocked(id)
		if img == nil {
			s.mu.Unlock()
			s.glanceNotFound(w, id)
			return
		}
		from, to, verb := "active", "deactivated", "deactivate"
		if reactivate {
			from, to, verb = "deactivated", "active", "reactivate"
		}
		switch img.Status {
		case from:
			img.Status = to
			img.Updated = time.Now().UTC()
		case to:
		default:
			st := img.Status
			s.mu.Unlock()
			s.writeError(w, svcImage, http.StatusForbidden, fmt.Sprintf("Not allowed to %s image in status '%s'", verb, st))
			return
		}
		s.mu.Unlock()
		glanceNoContent(w)
	}
}

// glanceUploadImage stores image data (reference 34): queued → saving → active, with
// size, md5 checksum and the sha512 multihash.
func (s *Sim) glanceUploadImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/octet-stream" {
		s.writeError(w, svcImage, http.StatusUnsupportedMediaType, "Invalid content type "+ct)
		return
	}
	s.mu.Lock()
	img := s.imageLocked(id)
	if img == nil {
		s.mu.Unlock()
		s.glanceNotFound(w, id)
		return
	}
	if img.Status != "queued" {
		st := img.Status
		s.mu.Unlock()
		s.writeError(w, svcImage, http.StatusConflict, "Image status transition from "+st+" to saving is not allowed")
		return
	}
	if img.DiskFormat == "" || img.ContainerFormat == "" {
		s.mu.Unlock()
		s.writeError(w, svcImage, http.StatusBadRequest, "Properties disk_format, container_format must be set prior to saving data.")
		return
	}
	img.Status = "saving"
	img.Updated = time.Now().UTC()
	s.mu.Unlock()

	md5h, sha := md5.New(), sha512.New()
	keep := &glanceCapBuffer{max: glanceKeepDataMax}
	n, err := io.Copy(io.MultiWriter(md5h, sha, keep), r.Body)

	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.imageLocked(id)
	if cur != img {
		s.writeError(w, svcImage, http.StatusGone, "Image "+id+" could not be found after upload. The image may have been deleted during the upload.")
		return
	}
	img.Updated = time.Now().UTC()
	if err != nil {
		img.Status = "queued"
		s.writeError(w, svcImage, http.StatusBadRequest, "Failed to upload image data due to an error reading the request body.")
		return
	}
	img.Status = "active"
	img.Size = n
	img.Checksum = hex.EncodeToString(md5h.Sum(nil))
	img.MultihashAlgo = "sha512"
	img.Multihash = hex.EncodeToString(sha.Sum(nil))
	img.Data = nil
	if !keep.overflow {
		img.Data = keep.buf
	}
	glanceNoContent(w)
}

// glanceDownloadImage serves image data the simulator kept (uploads up to 1 MiB).
func (s *Sim) glanceDownloadImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	img := s.imageLocked(id)
	if img == nil {
		s.mu.Unlock()
		s.glanceNotFound(w, id)
		return
	}
	status, data, sum, size := img.Status, img.Data, img.Checksum, img.Size
	s.mu.Unlock()
	switch {
	case status == "deactivated":
		s.writeError(w, svcImage, http.StatusForbidden, "The requested image has been deactivated. Image data download is forbidden.")
	case !glanceStatusHasData(status):
		glanceNoContent(w)
	case data == nil && size > 0:
		s.writeError(w, svcImage, http.StatusNotFound,
			"Image "+id+" has no data kept by the simulator (only uploads up to 1 MiB are kept).")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if sum != "" {
			w.Header().Set("Content-MD5", sum)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
	}
}

// glanceAddTag and glanceDeleteTag are PUT/DELETE /v2/images/{id}/tags/{tag}.
func (s *Sim) glanceAddTag(w http.ResponseWriter, r *http.Request) {
	id, tag := r.PathValue("id"), r.PathValue("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	img := s.imageLocked(id)
	if img == nil {
		s.glanceNotFound(w, id)
		return
	}
	for _, t := range img.Tags {
		if t == tag {
			glanceNoContent(w)
			return
		}
	}
	if len(img.Tags)+1 > glanceTagQuota {
		s.writeError(w, svcImage, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"The limit has been exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d", len(img.Tags)+1, glanceTagQuota))
		return
	}
	img.Tags = append(img.Tags, tag)
	img.Updated = time.Now().UTC()
	glanceNoContent(w)
}

func (s *Sim) glanceDeleteTag(w http.ResponseWriter, r *http.Request) {
	id, tag := r.PathValue("id"), r.PathValue("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	img := s.imageLocked(id)
	if img == nil {
		s.glanceNotFound(w, id)
		return
	}
	for i, t := range img.Tags {
		if t == tag {
			img.Tags = append(img.Tags[:i:i], img.Tags[i+1:]...)
			img.Updated = time.Now().UTC()
			glanceNoContent(w)
			return
		}
	}
	s.writeError(w, svcImage, http.StatusNotFound, "Tag "+tag+" not found")
}

// glanceCapBuffer keeps what is written to it up to max bytes and then only notes the overflow.
type glanceCapBuffer struct {
	max      int
	buf      []byte
	overflow bool
}

func (b *glanceCapBuffer) Write(p []byte) (int, error) {
	if !b.overflow {
		if len(b.buf)+len(p) > b.max {
			b.overflow, b.buf = true, nil
		} else {
			b.buf = append(b.buf, p...)
		}
	}
	return len(p), nil
}

// glanceErr is a refused change: the status and message Glance answers with.
type glanceErr struct {
	status int
	msg    string
}

func glanceBadSchema(format string, args ...any) *glanceErr {
	return &glanceErr{http.StatusBadRequest, "Provided object does not match schema 'image': " + fmt.Sprintf(format, args...)}
}

// glanceCheckWritable refuses read-only and reserved attributes (Glance's _check_allowed).
func glanceCheckWritable(key string) *glanceErr {
	switch {
	case glanceReadOnly[key]:
		return &glanceErr{http.StatusForbidden, "Attribute '" + key + "' is read-only."}
	case glanceReserved[key] || len(key) >= 9 && key[:9] == "os_glance":
		return &glanceErr{http.StatusForbidden, "Attribute '" + key + "' is reserved."}
	}
	return nil
}

// glanceSetAttr validates raw against the image schema for key and sets it on img. creating
// allows disk and container formats on any status (the image is new).
func glanceSetAttr(img *Image, key string, raw json.RawMessage, creating bool) *glanceErr {
	switch key {
	case "name", "owner":
		v, ok := glanceStringOrNull(raw)
		if !ok {
			return glanceBadSchema("%s is not of type 'null', 'string'", glancePyRepr(raw))
		}
		if len(v) > 255 {
			return glanceBadSchema("%s is too long", glancePyRepr(raw))
		}
		if key == "name" {
			img.Name = v
		} else {
			img.Owner = v
		}
	case "visibility":
		var v string
		if json.Unmarshal(raw, &v) != nil || !slices.Contains(glanceVisibilities, v) {
			return glanceBadSchema("%s is not one of ['community', 'public', 'private', 'shared']", glancePyRepr(raw))
		}
		img.Visibility = v
	case "protected", "os_hidden":
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			return glanceBadSchema("%s is not of type 'boolean'", glancePyRepr(raw))
		}
		if key == "protected" {
			img.Protected = v
		} else {
			img.Hidden = v
		}
	case "min_disk", "min_ram":
		var v int
		if json.Unmarshal(raw, &v) != nil {
			return glanceBadSchema("%s is not of type 'integer'", glancePyRepr(raw))
		}
		if v < 0 {
			return glanceBadSchema("%d is less than the minimum of 0", v)
		}
		if key == "min_disk" {
			img.MinDisk = v
		} else {
			img.MinRAM = v
		}
	case "disk_format", "container_format":
		allowed := glanceDiskFormats
		if key == "container_format" {
			allowed = glanceContainerFormats
		}
		v, ok := glanceStringOrNull(raw)
		if !ok || v != "" && !slices.Contains(allowed, v) {
			return glanceBadSchema("%s is not one of %s", glancePyRepr(raw), glancePyList(allowed))
		}
		if !creating && img.Status != "queued" {
			return &glanceErr{http.StatusForbidden, "Attribute " + key + " can be only replaced for a queued image."}
		}
		if key == "disk_format" {
			img.DiskFormat = v
		} else {
			img.ContainerFormat = v
		}
	case "tags":
		var v []string
		if json.Unmarshal(raw, &v) != nil || v == nil {
			return glanceBadSchema("%s is not of type 'array'", glancePyRepr(raw))
		}
		tags := []string{}
		seen := map[string]bool{}
		for _, t := range v {
			if len(t) > 255 {
				return glanceBadSchema("'%s' is too long", t)
			}
			if !seen[t] {
				seen[t] = true
				tags = append(tags, t)
			}
		}
		img.Tags = tags
	case "locations":
		return &glanceErr{http.StatusForbidden, "It's not allowed to update locations if locations are invisible."}
	default:
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return glanceBadSchema("%s is not of type 'string'", glancePyRepr(raw))
		}
		if len(key) > 255 {
			return glanceBadSchema("'%s' does not match any of the regexes: '^[^\\n\\r]{1,255}$'", key)
		}
		if img.Properties == nil {
			img.Properties = map[string]string{}
		}
		img.Properties[key] = v
	}
	return nil
}

// glanceCheckQuotas enforces the default property and tag quotas (413).
func glanceCheckQuotas(img *Image) *glanceErr {
	if n := len(img.Properties); n > glancePropertyQuota {
		return &glanceErr{http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"The limit has been exceeded on the number of allowed image properties. Attempted: %d, Maximum: %d", n, glancePropertyQuota)}
	}
	if n := len(img.Tags); n > glanceTagQuota {
		return &glanceErr{http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"The limit has been exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d", n, glanceTagQuota)}
	}
	return nil
}

// glanceStringOrNull decodes a JSON string or null ("" for null).
func glanceStringOrNull(raw json.RawMessage) (string, bool) {
	var v *string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	if v == nil {
		return "", true
	}
	return *v, true
}

// glancePyRepr renders a JSON value roughly as Python's repr would in a jsonschema message.
func glancePyRepr(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return "'" + x + "'"
	}
	return string(raw)
}

func glancePyList(ss []string) string {
	out := "["
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += "'" + s + "'"
	}
	return out + "]"
}

// glanceIsUUID reports whether v is a UUID in its canonical 8-4-4-4-12 hex form.
func glanceIsUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i, c := range v {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
