package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Helpers of the Keystone and Nova tests (prefixed nt to stay clear of the other services'
// test helpers in this package).

// ntStart starts and seeds a simulator with fast state changes and closes it at the end.
func ntStart(t *testing.T, cfg Config) (*Sim, *SeedResult) {
	t.Helper()
	if cfg.BootTime == 0 {
		cfg.BootTime = 20 * time.Millisecond
	}
	if cfg.ImageSaveTime == 0 {
		cfg.ImageSaveTime = 20 * time.Millisecond
	}
	s := New(cfg)
	require.NoError(t, s.Start())
	tr := &http.Transport{}
	ntTransports.Store(s, tr)
	t.Cleanup(func() {
		// A connection the transport dialled but never used stays "new" on the server,
		// and http.Server.Shutdown waits 5s for those: close them first.
		tr.CloseIdleConnections()
		require.NoError(t, s.Close())
	})
	res, err := s.Seed(context.Background())
	require.NoError(t, err)
	return s, res
}

// ntTransports holds each test simulator's HTTP transport (*Sim -> *http.Transport).
var ntTransports sync.Map

// ntClient talks to the simulator over HTTP with a token and an optional microversion.
type ntClient struct {
	t     *testing.T
	s     *Sim
	token string
	mv    string
}

func ntNewClient(t *testing.T, s *Sim, mv string) *ntClient {
	t.Helper()
	c := &ntClient{t: t, s: s, mv: mv}
	user, pass, project := s.Credentials()
	resp, body := c.do(http.MethodPost, "/identity/v3/auth/tokens", ntPasswordAuth(user, pass, project), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "issue token: %v", body)
	c.token = resp.Header.Get("X-Subject-Token")
	require.NotEmpty(t, c.token)
	return c
}

func ntPasswordAuth(user, pass, project string) map[string]any {
	return map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "domain": map[string]any{"name": "Default"}, "password": pass},
		}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"name": "Default"}}},
	}}
}

// do sends one request; body is JSON-encoded unless it is nil. It returns the response
// (body consumed) and the decoded JSON body (nil when empty).
func (c *ntClient) do(method, path string, body any, hdr http.Header) (*http.Response, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.s.BaseURL()+path, rd)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	if c.mv != "" {
		req.Header.Set("OpenStack-API-Version", "compute "+c.mv)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	tr, _ := ntTransports.Load(c.s)
	resp, err := (&http.Client{Transport: tr.(*http.Transport)}).Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		require.NoError(c.t, json.Unmarshal(data, &out), "body of %s %s: %s", method, path, data)
	}
	return resp, out
}

// createServer creates a server and returns its id; extra fields are merged into the body.
func (c *ntClient) createServer(name, imageID string, extra map[string]any) string {
	c.t.Helper()
	srv := map[string]any{"name": name, "imageRef": imageID, "flavorRef": "1"}
	for k, v := range extra {
		srv[k] = v
	}
	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": srv}, nil)
	require.Equal(c.t, http.StatusAccepted, resp.StatusCode, "create server: %v", body)
	return body["server"].(map[string]any)["id"].(string)
}

func (c *ntClient) server(id string) (int, map[string]any) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, "/compute/v2.1/servers/"+id, nil, nil)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, body
	}
	return resp.StatusCode, body["server"].(map[string]any)
}

// waitStatus waits until the server reports status.
func (c *ntClient) waitStatus(id, status string) map[string]any {
	c.t.Helper()
	var last map[string]any
	require.Eventually(c.t, func() bool {
		code, srv := c.server(id)
		last = srv
		return code == http.StatusOK && srv["status"] == status
	}, 5*time.Second, 10*time.Millisecond, "server %s never reached %s; last: %v", id, status, last)
	return last
}

func (c *ntClient) waitGone(id string) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		code, _ := c.server(id)
		return code == http.StatusNotFound
	}, 5*time.Second, 10*time.Millisecond, "server %s was never deleted", id)
}

// ntDriver is a driver that records what it was asked and fails or blocks on demand.
type ntDriver struct {
	nopDriver
	mu        sync.Mutex
	bootErr   error
	bootGate  chan struct{} // when set, Boot waits for it to close
	snapErr   error
	console   string
	booted    []BootSpec
	deleted   []string
	rebooted  []string
	snapshots []string
}

func (d *ntDriver) Boot(ctx context.Context, spec BootSpec) error {
	d.mu.Lock()
	gate, err := d.bootGate, d.bootErr
	d.booted = append(d.booted, spec)
	d.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (d *ntDriver) Delete(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deleted = append(d.deleted, id)
	return nil
}

func (d *ntDriver) Reboot(_ context.Context, id string, hard bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	kind := "soft"
	if hard {
		kind = "hard"
	}
	d.rebooted = append(d.rebooted, id+":"+kind)
	return nil
}

func (d *ntDriver) Snapshot(_ context.Context, serverID, imageID string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.snapErr != nil {
		return "", d.snapErr
	}
	d.snapshots = append(d.snapshots, serverID)
	return "snap:" + imageID, nil
}

func (d *ntDriver) ConsoleLog(_ context.Context, id string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.console == "" {
		return "", errors.New("no console for " + id)
	}
	return d.console, nil
}

func (d *ntDriver) snapshot() (booted []BootSpec, deleted, rebooted []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]BootSpec(nil), d.booted...), append([]string(nil), d.deleted...), append([]string(nil), d.rebooted...)
}

// ntPortsOf returns the ids of the ports whose device is serverID.
func ntPortsOf(s *Sim, serverID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, p := range s.portsOfDeviceLocked(serverID) {
		ids = append(ids, p.ID)
	}
	return ids
}

// ntAddImage puts an image straight into Glance's state.
func ntAddImage(s *Sim, name, status string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	img := &Image{ID: newUUID(), Name: name, Status: status, Visibility: "private", Owner: s.ident.projectID,
		ContainerFormat: "bare", DiskFormat: "qcow2", Tags: []string{}, Properties: map[string]string{},
		Created: now, Updated: now}
	s.st.images[img.ID] = img
	return img.ID
}

func ntErrMessage(body map[string]any, key string) string {
	m, _ := body[key].(map[string]any)
	msg, _ := m["message"].(string)
	return msg
}
