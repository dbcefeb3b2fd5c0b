package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gnEnv is a started, seeded simulator with a token, for the Glance and Neutron API tests.
// It issues its token directly into the identity state so these tests do not depend on
// the Keystone API.
type gnEnv struct {
	s     *Sim
	token string
	seed  *SeedResult
	drv   *fipRecorder
	// client has its own transport, closed before the simulator, so connections it
	// dialled but never used do not hold up the server's shutdown.
	client *http.Client
}

func newGNEnv(t *testing.T) *gnEnv {
	t.Helper()
	drv := &fipRecorder{Driver: NopDriver()}
	s := New(Config{Driver: drv, RandSeed: 1})
	require.NoError(t, s.Start())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	seed, err := s.Seed(context.Background())
	require.NoError(t, err)
	tok := "gn-" + randomHex(16)
	now := time.Now()
	s.mu.Lock()
	s.ident.tokens[tok] = &Token{ID: tok, Methods: []string{"password"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	s.mu.Unlock()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &gnEnv{s: s, token: tok, seed: seed, drv: drv, client: &http.Client{Transport: tr}}
}

// gnResp is one answered call.
type gnResp struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r gnResp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// call makes an authenticated request; body is JSON-encoded unless it is []byte. hdr are
// header name/value pairs.
func (e *gnEnv) call(t *testing.T, method, path string, body any, hdr ...string) gnResp {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
		ct = "application/json"
	default:
		data, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(data)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, e.s.BaseURL()+path, rd)
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", e.token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return gnResp{status: resp.StatusCode, header: resp.Header, body: data}
}

// fipRecorder is a driver that runs nothing and records what it is told about floating IPs.
type fipRecorder struct {
	Driver
	mu       sync.Mutex
	sets     []fipChange
	released []string
	failSet  error
}

func (d *fipRecorder) SetFloatingIP(_ context.Context, fip, fixedIP string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failSet != nil {
		return d.failSet
	}
	d.sets = append(d.sets, fipChange{FloatingIP: fip, FixedIP: fixedIP})
	return nil
}

func (d *fipRecorder) ReleaseFloatingIP(_ context.Context, fip string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released = append(d.released, fip)
	return nil
}

func (d *fipRecorder) setCalls() []fipChange {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]fipChange(nil), d.sets...)
}

func (d *fipRecorder) releaseCalls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.released...)
}
