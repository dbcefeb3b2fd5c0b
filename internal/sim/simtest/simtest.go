// Package simtest starts seeded OpenStack simulators for tests of other packages: one call
// gives a running cloud on loopback that is closed when the test ends.
//
// Entry points: Start, StartSeeded, Token.
package simtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/sim"
)

// Start starts a simulator with cfg, seeds it (base image, flavors, networks, keypair) and
// closes it when the test and its subtests end. Any failure stops the test.
func Start(t testing.TB, cfg sim.Config) *sim.Sim {
	t.Helper()
	s, _ := StartSeeded(t, cfg)
	return s
}

// StartSeeded is Start that also returns what the seed created (ids, the keypair's
// private key).
func StartSeeded(t testing.TB, cfg sim.Config) (*sim.Sim, *sim.SeedResult) {
	t.Helper()
	s := sim.New(cfg)
	if err := s.Start(); err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		// A connection a transport dialled but never used counts as active on the server
		// for 5s, which would stall Close: drop the default transport's idle ones first.
		// Tests with their own transport should close its idle connections too.
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
		if err := s.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.Seed(ctx)
	if err != nil {
		t.Fatalf("seed simulator: %v", err)
	}
	return s, res
}

// Token issues a project-scoped Keystone token for the simulator's user, over HTTP as any
// client would.
func Token(t testing.TB, s *sim.Sim) string {
	t.Helper()
	user, pass, project := s.Credentials()
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "domain": map[string]any{"name": "Default"}, "password": pass},
		}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"name": "Default"}}},
	}})
	resp, err := http.Post(s.AuthURL()+"/auth/tokens", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	defer resp.Body.Close()
	tok := resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != http.StatusCreated || tok == "" {
		t.Fatalf("issue token: status %d, token %q", resp.StatusCode, tok)
	}
	return tok
}
