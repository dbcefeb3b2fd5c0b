package fipproxy

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loopbackIP returns a random address in 127.100.0.0–127.199.255.255 so that parallel
// tests and other test binaries do not collide (Linux treats all of 127/8 as local).
func loopbackIP() string {
	return fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(256), 2+rand.IntN(250))
}

// testPort returns a port for one test: fip and backends listen on the same port.
func testPort() int { return 20000 + rand.IntN(10000) }

// backend is an HTTP server on ip:port answering its name; /slow waits for release.
type backend struct {
	name    string
	srv     *httptest.Server
	entered chan struct{} // one value per /slow request that reached the handler
	release chan struct{}
	served  atomic.Int64
}

func startBackend(t *testing.T, name, ip string, port int) *backend {
	t.Helper()
	b := &backend{name: name, entered: make(chan struct{}, 16), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		b.served.Add(1)
		_, _ = io.WriteString(w, name)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		b.entered <- struct{}{}
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, name)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	require.NoError(t, err)
	b.srv = httptest.NewUnstartedServer(mux)
	b.srv.Listener.Close()
	b.srv.Listener = ln
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

func newProxy(t *testing.T, ports ...int) *Proxy {
	t.Helper()
	p := New(nil, ports...)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func getBody(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

func TestRetargetUnderLoadFailsNothing(t *testing.T) {
	t.Parallel()
	port := testPort()
	ipA, ipB, fip := loopbackIP(), loopbackIP(), loopbackIP()
	a := startBackend(t, "A", ipA, port)
	b := startBackend(t, "B", ipB, port)
	p := newProxy(t, port)
	require.NoError(t, p.Set(t.Context(), fip, ipA))
	url := "http://" + net.JoinHostPort(fip, strconv.Itoa(port)) + "/"

	keepAlive := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	fresh := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer keepAlive.CloseIdleConnections()

	const workers, total = 16, 3000
	deadline := time.Now().Add(10 * time.Second)
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		client := keepAlive
		if i%2 == 1 {
			client = fresh // new connection per request: follows every move
		}
		wg.Go(func() {
			for sent.Add(1) <= total && time.Now().Before(deadline) {
				if _, err := getBody(client, url); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	var moves atomic.Int64
	var mover sync.WaitGroup
	mover.Go(func() {
		targets := []string{ipB, ipA}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			assert.NoError(t, p.Set(t.Context(), fip, targets[i%2]))
			moves.Add(1)
		}
	})
	wg.Wait()
	close(stop)
	mover.Wait()

	assert.Zero(t, failed.Load(), "failed requests during retargets; first: %v", firstErr.Load())
	assert.Greater(t, moves.Load(), int64(5), "the address must have moved several times under load")
	assert.Greater(t, a.served.Load(), int64(0))
	assert.Greater(t, b.served.Load(), int64(0))
	t.Logf("requests=%d moves=%d servedA=%d servedB=%d", min(sent.Load()-workers, total), moves.Load(), a.served.Load(), b.served.Load())

	// Once the move is done, every new connection lands on the new target.
	require.NoError(t, p.Set(t.Context(), fip, ipB))
	for range 20 {
		got, err := getBody(fresh, url)
		require.NoError(t, err)
		assert.Equal(t, "B", got)
	}
	st, ok := p.Stats(fip)
	require.True(t, ok)
	assert.Equal(t, ipB, st.Target)
	assert.Zero(t, st.Reset+st.DialFailed)
	assert.Greater(t, st.BytesOut, int64(0))
}

func TestInFlightRequestSurvivesRetarget(t *testing.T) {
	t.Parallel()
	port := testPort()
	ipA, ipB, fip := loopbackIP(), loopbackIP(), loopbackIP()
	a := startBackend(t, "A", ipA, port)
	startBackend(t, "B", ipB, port)
	p := newProxy(t, port)
	require.NoError(t, p.Set(t.Context(), fip, ipA))
	base := "http://" + net.JoinHostPort(fip, strconv.Itoa(port))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	slow := make(chan string, 1)
	go func() {
		body, err := getBody(client, base+"/slow")
		if err != nil {
			body = "error: " + err.Error()
		}
		slow <- body
	}()
	<-a.entered
	st, _ := p.Stats(fip)
	assert.Equal(t, int64(1), st.Active)

	require.NoError(t, p.Set(t.Context(), fip, ipB))
	got, err := getBody(client, base+"/")
	require.NoError(t, err)
	assert.Equal(t, "B", got, "new connections go to the new target at once")

	close(a.release)
	assert.Equal(t, "A", <-slow, "the established connection finishes on the old target")
	require.Eventually(t, func() bool { st, _ := p.Stats(fip); return st.Active == 0 }, 2*time.Second, 5*time.Millisecond)
}

func TestDetachResetsThenReattach(t *testing.T) {
	t.Parallel()
	port := testPort()
	ipA, fip := loopbackIP(), loopbackIP()
	startBackend(t, "A", ipA, port)
	p := newProxy(t, port)
	hostport := net.JoinHostPort(fip, strconv.Itoa(port))

	// Allocating detached is allowed: the address is owned but forwards nowhere.
	require.NoError(t, p.Set(t.Context(), fip, ""))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := getBody(client, "http://"+hostport+"/")
	require.Error(t, err, "a detached address answers nothing")

	// The listener is still there (no "connection refused"), the connection is reset: the
	// reset may even beat connect(2) home.
	c, err := net.Dial("tcp", hostport)
	if err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		require.Error(t, err)
		assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	assert.NotErrorIs(t, err, syscall.ECONNREFUSED)

	st, _ := p.Stats(fip)
	assert.Equal(t, "", st.Target)
	assert.Equal(t, int64(2), st.Reset)

	require.NoError(t, p.Set(t.Context(), fip, ipA))
	got, err := getBody(client, "http://"+hostport+"/")
	require.NoError(t, err)
	assert.Equal(t, "A", got)
}

func TestUnreachableTargetResets(t *testing.T) {
	t.Parallel()
	port := testPort()
	fip := loopbackIP()
	p := newProxy(t, port)
	require.NoError(t, p.Set(t.Context(), fip, loopbackIP())) // nothing listens there
	client := &http.Client{Timeout: 5 * time.Second}
	_, err := getBody(client, "http://"+net.JoinHostPort(fip, strconv.Itoa(port))+"/")
	require.Error(t, err)
	st, _ := p.Stats(fip)
	assert.Equal(t, int64(1), st.DialFailed)
}

func TestReleaseClosesListenerAndConnections(t *testing.T) {
	t.Parallel()
	port := testPort()
	ipA, fip := loopbackIP(), loopbackIP()
	a := startBackend(t, "A", ipA, port)
	p := newProxy(t, port)
	require.NoError(t, p.Set(t.Context(), fip, ipA))
	hostport := net.JoinHostPort(fip, strconv.Itoa(port))
	client := &http.Client{Timeout: 10 * time.Second}

	slow := make(chan error, 1)
	go func() { _, err := getBody(client, "http://"+hostport+"/slow"); slow <- err }()
	<-a.entered

	require.NoError(t, p.Release(fip))
	assert.Error(t, <-slow, "connections through a released address are cut")
	_, err := net.Dial("tcp", hostport)
	require.Error(t, err, "a released address refuses connections")
	_, ok := p.Stats(fip)
	assert.False(t, ok)
	assert.Empty(t, p.Addresses())
	require.NoError(t, p.Release(fip), "releasing twice is fine")

	// The address can be allocated again (the port was really freed).
	require.NoError(t, p.Set(t.Context(), fip, ipA))
	got, err := getBody(client, "http://"+hostport+"/")
	require.NoError(t, err)
	assert.Equal(t, "A", got)
}

func TestSeveralPorts(t *testing.T) {
	t.Parallel()
	p1, p2 := testPort(), testPort()
	for p1 == p2 {
		p2 = testPort()
	}
	ipA, fip := loopbackIP(), loopbackIP()
	startBackend(t, "A-web", ipA, p1)
	startBackend(t, "A-ssh", ipA, p2)
	p := newProxy(t, p1, p2)
	require.NoError(t, p.Set(t.Context(), fip, ipA))
	assert.Equal(t, []int{p1, p2}, p.Ports())
	for port, want := range map[int]string{p1: "A-web", p2: "A-ssh"} {
		got, err := getBody(http.DefaultClient, "http://"+net.JoinHostPort(fip, strconv.Itoa(port))+"/")
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

func TestSetErrors(t *testing.T) {
	t.Parallel()
	port := testPort()
	fip := loopbackIP()
	p := newProxy(t, port)
	require.Error(t, p.Set(t.Context(), "not-an-ip", ""))
	require.Error(t, p.Set(t.Context(), fip, "nope"))

	require.NoError(t, p.Set(t.Context(), fip, ""))
	other := newProxy(t, port)
	err := other.Set(t.Context(), fip, "")
	require.Error(t, err, "the address is owned by the first proxy")
	assert.Contains(t, err.Error(), "allocate floating IP "+fip)

	require.NoError(t, p.Close())
	require.Error(t, p.Set(t.Context(), fip, ""), "closed proxies allocate nothing")
	_, err = net.Dial("tcp", net.JoinHostPort(fip, strconv.Itoa(port)))
	require.Error(t, err, "Close releases every address")
}

// A connection accepted just before a retarget whose dial to the old target fails (the
// old server went away) is sent to the new target instead of being reset.
func TestDialFailureFollowsRetarget(t *testing.T) {
	t.Parallel()
	port := testPort()
	ipGone, ipB, fip := loopbackIP(), loopbackIP(), loopbackIP()
	startBackend(t, "B", ipB, port)
	p := newProxy(t, port)
	realDial := p.dial
	var dials atomic.Int64
	p.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			// The address moves while the first dial is on its way to the dead target.
			require.NoError(t, p.Set(ctx, fip, ipB))
		}
		return realDial(ctx, addr)
	}
	require.NoError(t, p.Set(t.Context(), fip, ipGone))
	got, err := getBody(&http.Client{Timeout: 10 * time.Second}, "http://"+net.JoinHostPort(fip, strconv.Itoa(port))+"/")
	require.NoError(t, err)
	assert.Equal(t, "B", got)
	assert.Equal(t, int64(2), dials.Load())
	st, _ := p.Stats(fip)
	assert.Zero(t, st.DialFailed)
}

func TestNewRejectsBadPorts(t *testing.T) {
	t.Parallel()
	for _, port := range []int{0, -1, 65536} {
		assert.Panics(t, func() { New(nil, port) }, "port %d", port)
	}
	assert.Equal(t, DefaultPorts, New(nil).Ports())
}
