// Package promtest serves Prometheus's instant-query API (/api/v1/query) over real
// HTTP, answering every query with series whose values the test sets, in the JSON shape
// Prometheus uses, so that alarm gates are tested against a real endpoint.
package promtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a Prometheus-compatible query endpoint.
type Server struct {
	URL string

	mu      sync.Mutex
	series  []Series
	fail    string // errorType to answer with, "" for success
	queries []string
}

// Series is one answer series: its labels and value.
type Series struct {
	Metric map[string]string
	Value  float64
}

// Start serves until the test ends; every query is answered with value for one series
// labelled {job="web"} until Set changes it.
func Start(t testing.TB, value float64) *Server {
	t.Helper()
	s := &Server{series: []Series{{Metric: map[string]string{"job": "web"}, Value: value}}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Set answers with one {job="web"} series of value v from now on.
func (s *Server) Set(v float64) {
	s.SetSeries(Series{Metric: map[string]string{"job": "web"}, Value: v})
}

// SetSeries answers with these series (none: an empty vector) from now on.
func (s *Server) SetSeries(series ...Series) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series, s.fail = series, ""
}

// Fail answers every query with a Prometheus error of this type (bad_data gets 400,
// others 503) until Set is called.
func (s *Server) Fail(errorType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = errorType
}

// Queries returns the queries received so far.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.queries = append(s.queries, r.Form.Get("query"))
	series, fail := s.series, s.fail
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Form.Get("query") == "" {
		fail = "bad_data"
	}
	if fail != "" {
		status := http.StatusServiceUnavailable
		if fail == "bad_data" {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": fail, "error": "injected " + fail})
		return
	}
	now := float64(time.Now().UnixMilli()) / 1000
	result := make([]any, 0, len(series))
	for _, se := range series {
		result = append(result, map[string]any{"metric": se.Metric, "value": []any{now, strconv.FormatFloat(se.Value, 'g', -1, 64)}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
}
