package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestWorkloadCommandServesAndDrainsOnSignal(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "info.json")
	require.NoError(t, os.WriteFile(info, []byte(`{"server_id":"srv-9","server_name":"web-9","image_id":"img-3",
		"image_name":"debian-12-remint","image_version":"2026.10.1","health":"unhealthy"}`), 0o600))
	addr := freeLoopbackAddr(t)

	ctx, cancel := context.WithCancel(t.Context()) // stands in for SIGTERM (main's NotifyContext)
	defer cancel()
	root := newRootCmd()
	root.SetArgs([]string{"workload", "--listen", addr, "--info-file", info,
		"--image-version", "2026.11.1", "--hostname", "h9", "--shutdown-timeout", "5s"})
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	client := &http.Client{Timeout: 5 * time.Second}
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable // health from the info file
	}, 5*time.Second, 20*time.Millisecond)

	resp, err := client.Get("http://" + addr + "/")
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	assert.Equal(t, "srv-9", got["server_id"])
	assert.Equal(t, "2026.11.1", got["image_version"], "flag overrides the file")
	assert.Equal(t, "h9", got["hostname"])

	// A slow request in flight when the signal arrives still gets its answer.
	slow := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/?delay=1s")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = assert.AnError
			}
		}
		slow <- err
	}()
	time.Sleep(300 * time.Millisecond) // let the slow request reach the handler (it takes 1s)
	cancel()
	require.NoError(t, <-slow)
	require.NoError(t, <-done)
	_, err = net.Dial("tcp", addr)
	assert.Error(t, err, "listener closed after shutdown")
}

func TestWorkloadCommandRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"server_id":"x","helth":"unhealthy"}`), 0o600))
	for _, args := range [][]string{
		{"workload", "--info-file", filepath.Join(dir, "missing.json")},
		{"workload", "--info-file", bad},
		{"workload", "--health", "sick"},
		{"workload", "--start-delay", "-1s"},
	} {
		root := newRootCmd()
		root.SetArgs(args)
		root.SetErr(io.Discard)
		err := root.ExecuteContext(t.Context())
		var ue usageError
		assert.ErrorAs(t, err, &ue, "%v", args)
	}
}
