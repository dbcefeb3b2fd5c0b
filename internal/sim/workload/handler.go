// Package workload is the application every simulated server runs: a small HTTP service
// that reports which server and image answered and whether the server is healthy. It belongs
// to the simulated world (see internal/sim): production code never imports it.
//
// The loopback driver runs it in-process on the server's fixed IP; the docker driver runs it
// inside each container as the hidden command `remint workload`. Failover tests read the
// image version through a floating IP to see which server took the traffic, and build a
// "bad image" by setting the image property remint_workload_health=unhealthy.
//
// Entry points: Handler (the HTTP API), ConfigFrom (what a server was booted with → what it
// serves), Start (listen and serve, with the configured start delay and graceful shutdown).
//
// HTTP API:
//
//	GET /         200, JSON {"server_id","server_name","image_id","image_name",
//	              "image_version","hostname","served_at"}; with Accept: text/plain one
//	              logfmt line (server_id=… image_version=… served_at=…).
//	              ?delay=2s holds the answer that long (at most MaxDelay), so tests can
//	              have requests in flight while a server drains or an address moves.
//	GET /healthz  200 "ok\n", or 503 "unhealthy\n" when the server is configured unhealthy.
//
// Every response carries X-Remint-Server-Id so load generators can count who answered.
package workload

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Info identifies the server and image a workload runs for.
type Info struct {
	ServerID     string `json:"server_id"`
	ServerName   string `json:"server_name"`
	ImageID      string `json:"image_id"`
	ImageName    string `json:"image_name"`
	ImageVersion string `json:"image_version"` // the image property remint_version, "" if absent
	Hostname     string `json:"hostname"`
}

// Options tune Handler.
type Options struct {
	// Health decides /healthz; nil means always healthy.
	Health *Health
	// Now stamps served_at; nil means time.Now.
	Now func() time.Time
}

// response is the body of GET /.
type response struct {
	Info
	ServedAt time.Time `json:"served_at"`
}

// MaxDelay bounds the delay query parameter of GET /.
const MaxDelay = time.Minute

// HeaderServerID is set on every response to the answering server's id. It is the header
// internal/loadgen reads (its tests check the two agree).
const HeaderServerID = "X-Remint-Server-Id"

// Handler returns the workload's HTTP API for the server described by info.
func Handler(info Info, opts Options) http.Handler {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	health := opts.Health
	if health == nil {
		health = NewHealth(true)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("delay"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > MaxDelay {
				http.Error(w, fmt.Sprintf("delay %q: want a duration between 0 and %s", v, MaxDelay), http.StatusBadRequest)
				return
			}
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		body := response{Info: info, ServedAt: now().UTC()}
		if wantsText(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, body.logfmt())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !health.Healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "unhealthy\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderServerID, info.ServerID)
		mux.ServeHTTP(w, r)
	})
}

// wantsText reports whether the Accept header prefers text/plain over JSON. Only the first
// listed media type counts; quality values are not weighed (curl sends one type anyway).
func wantsText(accept string) bool {
	first, _, _ := strings.Cut(accept, ",")
	mt, _, err := mime.ParseMediaType(strings.TrimSpace(first))
	return err == nil && mt == "text/plain"
}

// logfmt renders the response as one key=value line, quoting values that need it.
func (r response) logfmt() string {
	var b strings.Builder
	for i, kv := range [][2]string{
		{"server_id", r.ServerID},
		{"server_name", r.ServerName},
		{"image_id", r.ImageID},
		{"image_name", r.ImageName},
		{"image_version", r.ImageVersion},
		{"hostname", r.Hostname},
		{"served_at", r.ServedAt.Format(time.RFC3339Nano)},
	} {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(logfmtValue(kv[1]))
	}
	b.WriteByte('\n')
	return b.String()
}

func logfmtValue(v string) string {
	if v == "" || strings.ContainsAny(v, " =\"\\\t\n") {
		return strconv.Quote(v)
	}
	return v
}
