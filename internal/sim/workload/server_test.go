package workload

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestStartServesAndDrainsOnShutdown(t *testing.T) {
	t.Parallel()
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo}, StartOptions{})
	require.NoError(t, err)
	url := "http://" + s.Addr().String()
	client := &http.Client{Transport: &http.Transport{}}

	code, body := get(t, client, url+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	// A request in flight when Shutdown starts finishes with a full answer.
	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Get(url + "/?delay=400ms")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	require.Eventually(t, func() bool { return s.InFlight() >= 1 }, 2*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, s.Shutdown(ctx))
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "Shutdown must wait for the in-flight request")

	r := <-inflight
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.code)
	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.body), &got))
	assert.Equal(t, "srv-1", got["server_id"])

	assert.NoError(t, s.Err())
	_, err = net.Dial("tcp", s.Addr().String())
	assert.Error(t, err, "listener must be closed after Shutdown")
}

func TestShutdownBoundedByContext(t *testing.T) {
	t.Parallel()
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo}, StartOptions{})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr().String() + "/?delay=30s")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return s.InFlight() >= 1 }, 2*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = s.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Error(t, <-errc, "the stuck request is cut when the deadline passes")
}

func TestStartDelay(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo, StartDelay: 150 * time.Millisecond}, StartOptions{})
	require.NoError(t, err)
	defer s.Close()
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = Start(ctx, "127.0.0.1:0", Config{Info: testInfo, StartDelay: time.Hour}, StartOptions{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestStartUnhealthyAndBusyAddress(t *testing.T) {
	t.Parallel()
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo, Unhealthy: true}, StartOptions{})
	require.NoError(t, err)
	defer s.Close()
	code, body := get(t, http.DefaultClient, "http://"+s.Addr().String()+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "unhealthy\n", body)
	s.Health().Set(true)
	code, _ = get(t, http.DefaultClient, "http://"+s.Addr().String()+"/healthz")
	assert.Equal(t, http.StatusOK, code)

	_, err = Start(t.Context(), s.Addr().String(), Config{Info: testInfo}, StartOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on "+s.Addr().String())
}

func TestStartWithCallerHealthSwitch(t *testing.T) {
	t.Parallel()
	h := NewHealth(false) // the caller's switch wins over cfg.Unhealthy=false
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo}, StartOptions{Health: h})
	require.NoError(t, err)
	defer s.Close()
	assert.Same(t, h, s.Health())
	code, _ := get(t, http.DefaultClient, "http://"+s.Addr().String()+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	h.Set(true)
	code, _ = get(t, http.DefaultClient, "http://"+s.Addr().String()+"/healthz")
	assert.Equal(t, http.StatusOK, code)
}

// A client that connected before Shutdown and sends its request a moment later is still
// answered: net/http alone would drop a request it reads after Shutdown began.
func TestShutdownAnswersConnectionsThatWereAlreadyOpen(t *testing.T) {
	t.Parallel()
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo}, StartOptions{})
	require.NoError(t, err)
	conn, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(t.Context()) }()
	time.Sleep(30 * time.Millisecond) // the client is slow to send
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))
	assert.True(t, resp.Close, "a draining server closes the connection after answering")
	require.NoError(t, <-done)
}

// While draining, the server keeps accepting for a short quiet period, so connections a
// moved floating IP still sends its way are answered instead of reset.
func TestShutdownIsALameDuckWhileTrafficArrives(t *testing.T) {
	t.Parallel()
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo}, StartOptions{})
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(t.Context()) }()
	code, _ := get(t, client, "http://"+s.Addr().String()+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	require.NoError(t, <-done)
	_, err = net.Dial("tcp", s.Addr().String())
	assert.Error(t, err, "closed once traffic stopped")
}

// A connection the kernel completed but the server had not accepted when it stopped
// accepting is served from the backlog, not reset by closing the socket.
func TestShutdownServesTheBacklog(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("draining the accept backlog is Linux-only")
	}
	s, err := Start(t.Context(), "127.0.0.1:0", Config{Info: testInfo}, StartOptions{})
	require.NoError(t, err)
	s.ln.pause() // nobody accepts any more; the socket is open

	conn, err := net.Dial("tcp", s.Addr().String()) // completes into the backlog
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(t.Context()) }()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the queued connection is answered")
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "ok\n", string(body))
	require.NoError(t, <-done)
	_, err = net.Dial("tcp", s.Addr().String())
	assert.Error(t, err)
}
