package orchestrator

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type openAPIDoc struct {
	OpenAPI    string                               `json:"openapi"`
	Paths      map[string]map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t testing.TB) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(OpenAPIDocument, &doc), "openapi.json is not valid JSON")
	return doc
}

// fullAPI is the API with every optional part: its routes are everything remint serve
// registers of its own API.
func fullAPI() API {
	return API{Jobs: Local{}, Groups: &Fleet{}, Images: &Fleet{}, More: ScheduleRoutes(nil, nil)}
}

// TestOpenAPIMatchesRoutes walks the mux: every registered route is documented, and
// every documented path and method reaches the handler registered for it (requests with
// sample path values, resolved by the mux itself).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.0."), "OpenAPI 3.0, got %q", doc.OpenAPI)

	api := fullAPI()
	registered := map[string]bool{}
	for _, r := range api.Routes() {
		require.False(t, registered[r.Pattern], "route %s registered twice", r.Pattern)
		registered[r.Pattern] = true
		method, path, ok := strings.Cut(r.Pattern, " ")
		require.True(t, ok, "pattern %q has a method", r.Pattern)
		_, documented := doc.Paths[path][strings.ToLower(method)]
		require.True(t, documented, "route %s is registered but not in openapi.json", r.Pattern)
	}

	mux := api.Handler().(*http.ServeMux)
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			pattern := strings.ToUpper(method) + " " + path
			documented = append(documented, pattern)
			require.Contains(t, op, "responses", pattern)
			req := httptest.NewRequest(strings.ToUpper(method), strings.NewReplacer("{id}", "7", "{name}", "web", "{family}", "debian-12", "{version}", "2026.11.1").Replace(path), nil)
			_, got := mux.Handler(req)
			require.Equal(t, pattern, got, "documented %s does not reach its own handler", pattern)
		}
	}
	sort.Strings(documented)
	require.Len(t, documented, len(registered), "as many documented operations as registered routes")

	// Every $ref resolves.
	var refs func(v any)
	refs = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				name := strings.TrimPrefix(r, "#/components/schemas/")
				require.Contains(t, doc.Components.Schemas, name, "dangling $ref %s", r)
			}
			for _, e := range x {
				refs(e)
			}
		case []any:
			for _, e := range x {
				refs(e)
			}
		}
	}
	var raw any
	require.NoError(t, json.Unmarshal(OpenAPIDocument, &raw))
	refs(raw)

	// The document is what GET /openapi.json serves.
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, OpenAPIDocument, body)
}

// requireDocumented checks an answer against the schema openapi.json gives for the
// route's method, path and status.
func requireDocumented(t testing.TB, pattern string, status int, body []byte) {
	t.Helper()
	doc := loadOpenAPI(t)
	method, path, _ := strings.Cut(pattern, " ")
	op, ok := doc.Paths[path][strings.ToLower(method)]
	require.True(t, ok, "%s is not documented", pattern)
	responses, _ := op["responses"].(map[string]any)
	r, ok := responses[strconv.Itoa(status)].(map[string]any)
	require.True(t, ok, "%s: status %d is not documented", pattern, status)
	content, _ := r["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	schema, _ := media["schema"].(map[string]any)
	require.NotNil(t, schema, "%s %d: no JSON schema documented", pattern, status)
	var v any
	require.NoError(t, json.Unmarshal(body, &v), "%s %d: %s", pattern, status, body)
	if problems := validate(doc, schema, v, "$"); len(problems) > 0 {
		t.Fatalf("%s %d does not match openapi.json:\n  %s\nbody: %s", pattern, status, strings.Join(problems, "\n  "), body)
	}
}

// validate is a structural check of v against an OpenAPI 3.0 schema: types, required
// properties, no undocumented properties where properties are listed, enums, date-times.
func validate(doc openAPIDoc, schema map[string]any, v any, at string) []string {
	if r, ok := schema["$ref"].(string); ok {
		return validate(doc, doc.Components.Schemas[strings.TrimPrefix(r, "#/components/schemas/")], v, at)
	}
	if v == nil {
		if n, _ := schema["nullable"].(bool); n {
			return nil
		}
		return []string{at + ": null"}
	}
	var out []string
	bad := func(format string, args ...any) { out = append(out, at+": "+fmt.Sprintf(format, args...)) }
	switch schema["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			return out
		}
		props, _ := schema["properties"].(map[string]any)
		for _, req := range anyStrings(schema["required"]) {
			if _, ok := m[req]; !ok {
				bad("required property %q is missing", req)
			}
		}
		addl, _ := schema["additionalProperties"].(map[string]any)
		for k, e := range m {
			if ps, ok := props[k].(map[string]any); ok {
				out = append(out, validate(doc, ps, e, at+"."+k)...)
			} else if addl != nil {
				out = append(out, validate(doc, addl, e, at+"."+k)...)
			} else if len(props) > 0 {
				bad("property %q is not documented", k)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("want an array, got %T", v)
			return out
		}
		items, _ := schema["items"].(map[string]any)
		for i, e := range a {
			out = append(out, validate(doc, items, e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			bad("want a string, got %T", v)
			return out
		}
		if enum := anyStrings(schema["enum"]); len(enum) > 0 && !slices.Contains(enum, s) {
			bad("%q is not one of %v", s, enum)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				bad("%q is not a date-time", s)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			bad("want an integer, got %v", v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			bad("want a number, got %T", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
		}
	}
	return out
}

func anyStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// The validator itself finds what is wrong (so the checks above can fail).
func TestOpenAPIValidatorFindsMismatches(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	job := map[string]any{"$ref": "#/components/schemas/Job"}
	var v any
	require.NoError(t, json.Unmarshal([]byte(`{"id":1.5,"kind":"rebuild","target":"web","status":"lost","attempt":0,"created":"yesterday",
		"installed":0,"failed":0,"decisions":[],"colour":"red"}`), &v))
	problems := strings.Join(validate(doc, job, v, "$"), "\n")
	for _, want := range []string{"$.id: want an integer", `"lost" is not one of`, `"yesterday" is not a date-time`, `required property "rollouts" is missing`, `property "colour" is not documented`} {
		require.Contains(t, problems, want)
	}
}
