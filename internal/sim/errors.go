package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	_ = enc.Encode(v)
}

// writeError answers with the error body shape of svc, as the real services do:
//
//	compute:  {"itemNotFound": {"code": 404, "message": "…"}}
//	image:    {"message": "…<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}
//	network:  {"NeutronError": {"type": "…", "message": "…", "detail": ""}}
//	identity: {"error": {"code": 401, "message": "…", "title": "Unauthorized"}}
//
// For network errors use writeNeutronError when the Neutron error type matters.
func (s *Sim) writeError(w http.ResponseWriter, svc service, status int, msg string) {
	switch svc {
	case svcCompute:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		writeJSONRaw(w, status, map[string]any{novaFaultKey(status): map[string]any{"code": status, "message": msg}})
	case svcImage:
		writeJSON(w, status, map[string]any{
			"message": msg + "<br /><br />\n\n\n",
			"code":    fmt.Sprintf("%d %s", status, http.StatusText(status)),
			"title":   http.StatusText(status),
		})
	case svcNetwork:
		writeNeutronError(w, status, neutronErrorType(status), msg)
	default:
		writeJSON(w, status, map[string]any{"error": map[string]any{
			"code": status, "message": msg, "title": http.StatusText(status),
		}})
	}
}

// writeJSONRaw writes v without touching an already set Content-Type.
func writeJSONRaw(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	_ = enc.Encode(v)
}

// writeNeutronError writes {"NeutronError": {"type", "message", "detail"}}.
func writeNeutronError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"NeutronError": map[string]any{
		"type": typ, "message": msg, "detail": "",
	}})
}

func novaFaultKey(status int) string {
	switch status {
	case 400:
		return "badRequest"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "itemNotFound"
	case 405:
		return "badMethod"
	case 409:
		return "conflictingRequest"
	case 413, 429:
		return "overLimit"
	case 501:
		return "notImplemented"
	case 503:
		return "serviceUnavailable"
	default:
		return "computeFault"
	}
}

func neutronErrorType(status int) string {
	switch status {
	case 400:
		return "HTTPBadRequest"
	case 401:
		return "HTTPUnauthorized"
	case 403:
		return "HTTPForbidden"
	case 404:
		return "HTTPNotFound"
	case 409:
		return "HTTPConflict"
	case 412:
		return "HTTPPreconditionFailed"
	case 429:
		return "HTTPTooManyRequests"
	case 503:
		return "HTTPServiceUnavailable"
	default:
		return "HTTPInternalServerError"
	}
}
