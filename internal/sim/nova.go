package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Nova v2.1 under /compute: routes, microversion negotiation, version documents and the
// helpers every compute handler shares. Servers: nova_servers_create.go (create and boot),
// nova_servers.go (show, rename, delete), nova_servers_list.go, nova_render.go; server
// actions in nova_actions.go, metadata and tags in nova_metadata.go, flavors, keypairs,
// limits and availability zones in nova_misc.go.

// novaMaxMinor is the highest compute microversion served (2.93, as Nova 26 "Zed" in the
// reference answers).
const (
	novaMaxMinor   = 93
	novaPrefix     = "/compute/v2.1"
	novaHost       = "remint-sim"
	novaAZ         = "nova"
	novaTimeFormat = "2006-01-02T15:04:05Z"
)

// microversion is a compute API microversion 2.minor.
type microversion struct{ minor int }

func (v microversion) String() string { return "2." + strconv.Itoa(v.minor) }

// atLeast reports whether v >= 2.minor.
func (v microversion) atLeast(minor int) bool { return v.minor >= minor }

type novaCtxKey struct{}

// novaRequest is what the microversion middleware learnt about a request.
type novaRequest struct {
	mv     microversion
	status int // non-zero: the requested version is refused with this status
	msg    string
}

// parseNovaMicroversion reads OpenStack-API-Version ("compute 2.79", possibly one of
// several comma-separated services) or else X-OpenStack-Nova-API-Version.
func parseNovaMicroversion(h http.Header) novaRequest {
	raw := ""
	for _, line := range h.Values("OpenStack-API-Version") {
		for _, part := range strings.Split(line, ",") {
			f := strings.Fields(part)
			if len(f) == 2 && strings.EqualFold(f[0], "compute") {
				raw = f[1]
			}
		}
	}
	if raw == "" {
		raw = strings.TrimSpace(h.Get("X-OpenStack-Nova-API-Version"))
	}
	if raw == "" {
		return novaRequest{mv: microversion{1}}
	}
	if strings.EqualFold(raw, "latest") {
		return novaRequest{mv: microversion{novaMaxMinor}}
	}
	maj, min, ok := strings.Cut(raw, ".")
	major, err1 := strconv.Atoi(maj)
	minor, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return novaRequest{mv: microversion{1}, status: http.StatusBadRequest,
			msg: fmt.Sprintf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", raw)}
	}
	if major != 2 || minor < 1 || minor > novaMaxMinor {
		return novaRequest{mv: microversion{1}, status: http.StatusNotAcceptable,
			msg: fmt.Sprintf("Version %s is not supported by the API. Minimum is 2.1 and maximum is 2.%d.", raw, novaMaxMinor)}
	}
	return novaRequest{mv: microversion{minor}}
}

// setNovaVersionHeaders writes the microversion headers with Nova's own spelling.
func setNovaVersionHeaders(w http.ResponseWriter, v microversion) {
	h := w.Header()
	h["OpenStack-API-Version"] = []string{"compute " + v.String()}
	h["X-OpenStack-Nova-API-Version"] = []string{v.String()}
	h["Vary"] = []string{"OpenStack-API-Version, X-OpenStack-Nova-API-Version"}
}

// novaHandler is a compute handler that knows the request's microversion.
type novaHandler func(w http.ResponseWriter, r *http.Request, mv microversion)

// novaRoute registers an authenticated compute route. The microversion headers are on
// every answer, errors and injected faults included; an unsupported version is refused
// (406) after authentication, as Nova does.
func (s *Sim) novaRoute(pattern, op string, h novaHandler) {
	s.novaRouteAuth(pattern, op, true, h)
}

func (s *Sim) novaRouteAuth(pattern, op string, auth bool, h novaHandler) {
	inner := s.wrap(op, auth, func(w http.ResponseWriter, r *http.Request) {
		nr, _ := r.Context().Value(novaCtxKey{}).(novaRequest)
		if nr.status != 0 {
			s.writeError(w, svcCompute, nr.status, nr.msg)
			return
		}
		h(w, r, nr.mv)
	})
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nr := parseNovaMicroversion(r.Header)
		if nr.status == 0 {
			setNovaVersionHeaders(w, nr.mv)
		}
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), novaCtxKey{}, nr)))
	}))
}

func (s *Sim) routesNova() {
	p := novaPrefix
	s.handlePublic("GET /compute", "compute.versions", s.novaVersions)
	s.handlePublic("GET /compute/{$}", "compute.versions", s.novaVersions)
	s.novaRouteAuth("GET "+p, "compute.versions", false, s.novaV21)
	s.novaRouteAuth("GET "+p+"/{$}", "compute.versions", false, s.novaV21)

	s.novaRoute("POST "+p+"/servers", "compute.server.create", s.novaCreateServer)
	s.novaRoute("GET "+p+"/servers", "compute.server.list", s.novaListServers(false))
	s.novaRoute("GET "+p+"/servers/detail", "compute.server.list", s.novaListServers(true))
	s.novaRoute("GET "+p+"/servers/{id}", "compute.server.get", s.novaGetServer)
	s.novaRoute("PUT "+p+"/servers/{id}", "compute.server.update", s.novaUpdateServer)
	s.novaRoute("DELETE "+p+"/servers/{id}", "compute.server.delete", s.novaDeleteServer)
	s.novaRoute("POST "+p+"/servers/{id}/action", "compute.server.action", s.novaServerAction)

	s.novaRoute("GET "+p+"/servers/{id}/metadata", "compute.server.metadata", s.novaGetMetadata)
	s.novaRoute("PUT "+p+"/servers/{id}/metadata", "compute.server.metadata", s.novaSetMetadata(true))
	s.novaRoute("POST "+p+"/servers/{id}/metadata", "compute.server.metadata", s.novaSetMetadata(false))
	s.novaRoute("GET "+p+"/servers/{id}/metadata/{key}", "compute.server.metadata", s.novaGetMetadataItem)
	s.novaRoute("PUT "+p+"/servers/{id}/metadata/{key}", "compute.server.metadata", s.novaSetMetadataItem)
	s.novaRoute("DELETE "+p+"/servers/{id}/metadata/{key}", "compute.server.metadata", s.novaDeleteMetadataItem)

	s.novaRoute("GET "+p+"/servers/{id}/tags", "compute.server.tags", s.novaListTags)
	s.novaRoute("PUT "+p+"/servers/{id}/tags", "compute.server.tags", s.novaReplaceTags)
	s.novaRoute("DELETE "+p+"/servers/{id}/tags", "compute.server.tags", s.novaDeleteAllTags)
	s.novaRoute("GET "+p+"/servers/{id}/tags/{tag}", "compute.server.tags", s.novaCheckTag)
	s.novaRoute("PUT "+p+"/servers/{id}/tags/{tag}", "compute.server.tags", s.novaAddTag)
	s.novaRoute("DELETE "+p+"/servers/{id}/tags/{tag}", "compute.server.tags", s.novaDeleteTag)

	s.novaRoute("GET "+p+"/flavors", "compute.flavor.list", s.novaListFlavors(false))
	s.novaRoute("GET "+p+"/flavors/detail", "compute.flavor.list", s.novaListFlavors(true))
	s.novaRoute("GET "+p+"/flavors/{id}", "compute.flavor.get", s.novaGetFlavor)
	s.novaRoute("GET "+p+"/flavors/{id}/os-extra_specs", "compute.flavor.get", s.novaFlavorExtraSpecs)

	s.novaRoute("GET "+p+"/os-keypairs", "compute.keypair.list", s.novaListKeypairs)
	s.novaRoute("POST "+p+"/os-keypairs", "compute.keypair.create", s.novaCreateKeypair)
	s.novaRoute("GET "+p+"/os-keypairs/{name}", "compute.keypair.get", s.novaGetKeypair)
	s.novaRoute("DELETE "+p+"/os-keypairs/{name}", "compute.keypair.delete", s.novaDeleteKeypair)

	s.novaRoute("GET "+p+"/limits", "compute.limits.get", s.novaGetLimits)
	s.novaRoute("GET "+p+"/os-availability-zone", "compute.availability_zone.list", s.novaAvailabilityZones)
	s.novaRoute("GET "+p+"/os-availability-zone/detail", "compute.availability_zone.list", s.novaAvailabilityZones)
}

// novaVersionV21 is the v2.1 entry of the version documents (references 05, 06).
func (s *Sim) novaVersionV21(withMedia bool) map[string]any {
	links := []any{map[string]any{"rel": "self", "href": s.baseURL + novaPrefix + "/"}}
	v := map[string]any{
		"id": "v2.1", "status": "CURRENT", "version": microversion{novaMaxMinor}.String(),
		"min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
	}
	if withMedia {
		links = append(links, map[string]any{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
		v["media-types"] = []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1",
		}}
	}
	v["links"] = links
	return v
}

// novaVersions answers GET /compute/ (reference 05).
func (s *Sim) novaVersions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{
		map[string]any{
			"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
			"updated": "2011-01-21T11:33:21Z",
			"links":   []any{map[string]any{"rel": "self", "href": s.baseURL + "/compute/v2/"}},
		},
		s.novaVersionV21(false),
	}})
}

// novaV21 answers GET /compute/v2.1/ (reference 06).
func (s *Sim) novaV21(w http.ResponseWriter, _ *http.Request, _ microversion) {
	writeJSON(w, http.StatusOK, map[string]any{"version": s.novaVersionV21(true)})
}

// novaURL is an absolute URL under /compute/v2.1; novaBookmark the unversioned one Nova
// uses for bookmark links.
func (s *Sim) novaURL(parts ...string) string {
	return s.baseURL + novaPrefix + "/" + strings.Join(parts, "/")
}

func (s *Sim) novaBookmark(parts ...string) string {
	return s.baseURL + "/compute/" + strings.Join(parts, "/")
}

func (s *Sim) novaLinks(kind, id string) []any {
	return []any{
		map[string]any{"rel": "self", "href": s.novaURL(kind, id)},
		map[string]any{"rel": "bookmark", "href": s.novaBookmark(kind, id)},
	}
}

func (s *Sim) novaError(w http.ResponseWriter, status int, msg string) {
	s.writeError(w, svcCompute, status, msg)
}

// errNovaBody is a request body Nova refuses; its text is Nova's message.
var errNovaBody = errors.New("malformed request body")

// decodeNovaBody reads a JSON request body into v, answering 400 as Nova does when it is
// not JSON. It reports whether the handler may go on.
func (s *Sim) decodeNovaBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.novaError(w, http.StatusRequestEntityTooLarge, "Request is too large.")
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		s.novaError(w, http.StatusBadRequest, "Malformed request body")
		return false
	}
	return true
}

// invalidInput is Nova's JSON-schema validation message.
func invalidInput(field, detail string) string {
	return fmt.Sprintf("Invalid input for field/attribute %s. Value: %s", field, detail)
}

// serverNotFound is Nova's 404 for a missing server (reference 17).
func (s *Sim) serverNotFound(w http.ResponseWriter, id string) {
	s.novaError(w, http.StatusNotFound, fmt.Sprintf("Instance %s could not be found.", id))
}

// lastPathSegment takes the id out of an id-or-URL reference (imageRef, flavorRef).
func lastPathSegment(ref string) string {
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}
