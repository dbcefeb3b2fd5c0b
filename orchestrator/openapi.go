package orchestrator

import (
	_ "embed"
	"net/http"
)

// OpenAPIDocument is the OpenAPI 3.0 description of remint's own API (openapi.json),
// served at GET /openapi.json; TestOpenAPIMatchesRoutes keeps it and API.Routes in step.
//
//go:embed openapi.json
var OpenAPIDocument []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPIDocument) // the client went away: nothing to do
}
