package loopback

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newDriver returns a driver on a free address plan, closed when the test ends.
func newDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := NewFree(Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	return d
}

// host returns the n-th address of p (n=2 is the first one IPAM hands out).
func host(p netip.Prefix, n int) string {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a.String()
}

func spec(id, fixedIP string, props map[string]string) sim.BootSpec {
	return sim.BootSpec{
		ServerID: id, Name: "Web " + id, ImageID: "img-" + id, ImageName: "debian-12-remint",
		ImageRef: SeedImageRef, ImageProps: props, FixedIP: fixedIP,
	}
}

type answer struct {
	status int
	body   map[string]string
	raw    string
}

func get(t *testing.T, client *http.Client, url string) (answer, error) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(b, &a.body))
	}
	return a, nil
}

func url(ip string, port int, path string) string {
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + path
}

func inFlight(t *testing.T, d *Driver, id string) int {
	n, err := d.InFlight(id)
	require.NoError(t, err)
	return n
}

var fresh = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func TestBootServesEachServerAndFloatingIPMovesTraffic(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, pub := d.AddressPlan()
	ip1, ip2, fip := host(priv, 2), host(priv, 3), host(pub, 2)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip1, map[string]string{"remint_version": "2026.10.1"})))
	require.NoError(t, d.Boot(t.Context(), spec("s2", ip2, map[string]string{"remint_version": "2026.11.1"})))
	assert.Equal(t, []string{"s1", "s2"}, d.Servers())

	for ip, want := range map[string]map[string]string{
		ip1: {"server_id": "s1", "server_name": "Web s1", "image_id": "img-s1", "image_version": "2026.10.1", "hostname": "web-s1"},
		ip2: {"server_id": "s2", "server_name": "Web s2", "image_id": "img-s2", "image_version": "2026.11.1", "hostname": "web-s2"},
	} {
		a, err := get(t, fresh, url(ip, d.Port(), "/"))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.status)
		for k, v := range want {
			assert.Equal(t, v, a.body[k], "%s on %s", k, ip)
		}
		a, err = get(t, fresh, url(ip, d.Port(), "/healthz"))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.status)
	}

	// The floating IP forwards to whichever server it is associated with.
	require.NoError(t, d.SetFloatingIP(t.Context(), fip, ip1))
	a, err := get(t, fresh, url(fip, d.Port(), "/"))
	require.NoError(t, err)
	assert.Equal(t, "s1", a.body["server_id"])

	require.NoError(t, d.SetFloatingIP(t.Context(), fip, ip2))
	a, err = get(t, fresh, url(fip, d.Port(), "/"))
	require.NoError(t, err)
	assert.Equal(t, "s2", a.body["server_id"])
	st, ok := d.FloatingIPStats(fip)
	require.True(t, ok)
	assert.Equal(t, ip2, st.Target)
	assert.Equal(t, int64(2), st.Accepted)

	// Detached: the address stays owned but answers nothing.
	require.NoError(t, d.SetFloatingIP(t.Context(), fip, ""))
	_, err = get(t, fresh, url(fip, d.Port(), "/"))
	require.Error(t, err)

	require.NoError(t, d.ReleaseFloatingIP(t.Context(), fip))
	_, err = net.Dial("tcp", net.JoinHostPort(fip, strconv.Itoa(d.Port())))
	require.Error(t, err, "a released floating IP refuses connections")
}

func TestFloatingIPRangeChecks(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, pub := d.AddressPlan()
	for _, tc := range []struct{ fip, fixed, want string }{
		{host(priv, 9), host(priv, 2), "not in the loopback driver's public range"},
		{"10.1.2.3", host(priv, 2), "not in the loopback driver's public range"},
		{host(pub, 9), "192.168.1.5", "is not a loopback address"},
		{"nope", "", "nope"},
	} {
		err := d.SetFloatingIP(t.Context(), tc.fip, tc.fixed)
		require.Error(t, err, tc.fip)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestDeleteDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, pub := d.AddressPlan()
	ip, fip := host(priv, 2), host(pub, 2)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip, nil)))
	require.NoError(t, d.SetFloatingIP(t.Context(), fip, ip))

	// Through the floating IP, as real clients arrive.
	type result struct {
		a   answer
		err error
	}
	slow := make(chan result, 1)
	go func() {
		a, err := get(t, fresh, url(fip, d.Port(), "/?delay=600ms"))
		slow <- result{a, err}
	}()
	require.Eventually(t, func() bool { return inFlight(t, d, "s1") == 1 }, 5*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, d.Delete(ctx, "s1"))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "Delete waits for the in-flight request")
	r := <-slow
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.a.status)
	assert.Equal(t, "s1", r.a.body["server_id"])

	_, err := net.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(d.Port())))
	require.Error(t, err, "the deleted server's address is free")
	assert.Empty(t, d.Servers())
	require.NoError(t, d.Delete(t.Context(), "s1"), "deleting an unknown server is not an error")
	log, err := d.ConsoleLog(t.Context(), "s1")
	require.NoError(t, err, "a deleted server's last console output is kept")
	assert.True(t, strings.HasSuffix(log, "reboot: Power down\n"), log)
	_, err = d.ConsoleLog(t.Context(), "never-booted")
	require.Error(t, err)

	// The address can be reused by a new server at once.
	require.NoError(t, d.Boot(t.Context(), spec("s3", ip, nil)))
	a, err := get(t, fresh, url(ip, d.Port(), "/"))
	require.NoError(t, err)
	assert.Equal(t, "s3", a.body["server_id"])
}

func TestDeleteBoundedByContext(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, _ := d.AddressPlan()
	ip := host(priv, 2)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip, nil)))
	errc := make(chan error, 1)
	go func() { _, err := get(t, fresh, url(ip, d.Port(), "/?delay=30s")); errc <- err }()
	require.Eventually(t, func() bool { return inFlight(t, d, "s1") == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, d.Delete(ctx, "s1"))
	assert.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, <-errc, "a request outliving the deadline is cut")
}

func TestReboot(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, _ := d.AddressPlan()
	ip := host(priv, 2)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip, nil)))

	t.Run("soft drains", func(t *testing.T) {
		slow := make(chan error, 1)
		go func() {
			a, err := get(t, fresh, url(ip, d.Port(), "/?delay=300ms"))
			if err == nil && a.status != http.StatusOK {
				err = fmt.Errorf("status %d", a.status)
			}
			slow <- err
		}()
		require.Eventually(t, func() bool { return inFlight(t, d, "s1") == 1 }, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, d.Reboot(t.Context(), "s1", false))
		require.NoError(t, <-slow)
		a, err := get(t, fresh, url(ip, d.Port(), "/"))
		require.NoError(t, err)
		assert.Equal(t, "s1", a.body["server_id"])
	})
	t.Run("hard cuts", func(t *testing.T) {
		slow := make(chan error, 1)
		go func() { _, err := get(t, fresh, url(ip, d.Port(), "/?delay=30s")); slow <- err }()
		require.Eventually(t, func() bool { return inFlight(t, d, "s1") == 1 }, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, d.Reboot(t.Context(), "s1", true))
		require.Error(t, <-slow)
		a, err := get(t, fresh, url(ip, d.Port(), "/healthz"))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.status)
	})

	log, err := d.ConsoleLog(t.Context(), "s1")
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(log, "remint-workload listening on "+net.JoinHostPort(ip, strconv.Itoa(d.Port()))), log)
	assert.Contains(t, log, "reboot: Restarting system")
	assert.Contains(t, log, "Stopped remint-workload.service")
	assert.Contains(t, log, "remint loopback driver: hard reset")

	require.Error(t, d.Reboot(t.Context(), "nope", false))
}

func TestWorkloadHealthControls(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, _ := d.AddressPlan()
	bad := map[string]string{"remint_version": "2026.11.9", "remint_workload_health": "unhealthy"}
	tests := []struct {
		name     string
		spec     sim.BootSpec
		wantCode int
	}{
		{"bad image", spec("bad", host(priv, 2), bad), http.StatusServiceUnavailable},
		{"metadata overrides the image", func() sim.BootSpec {
			s := spec("meta", host(priv, 3), bad)
			s.Metadata = map[string]string{"remint_workload_health": "healthy"}
			return s
		}(), http.StatusOK},
		{"user data on a good image", func() sim.BootSpec {
			s := spec("ud", host(priv, 4), nil)
			s.UserData = []byte("#cloud-config\nremint_workload_health: unhealthy\n")
			return s
		}(), http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, d.Boot(t.Context(), tt.spec))
			a, err := get(t, fresh, url(tt.spec.FixedIP, d.Port(), "/healthz"))
			require.NoError(t, err)
			assert.Equal(t, tt.wantCode, a.status)
			a, err = get(t, fresh, url(tt.spec.FixedIP, d.Port(), "/"))
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, a.status, "an unhealthy server still serves")
		})
	}
}

func TestSetHealthSurvivesReboot(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, _ := d.AddressPlan()
	ip := host(priv, 2)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip, nil)))
	health := func() int {
		a, err := get(t, fresh, url(ip, d.Port(), "/healthz"))
		require.NoError(t, err)
		return a.status
	}
	assert.Equal(t, http.StatusOK, health())
	require.NoError(t, d.SetHealth("s1", false))
	assert.Equal(t, http.StatusServiceUnavailable, health())
	require.NoError(t, d.Reboot(t.Context(), "s1", false))
	assert.Equal(t, http.StatusServiceUnavailable, health())
	require.NoError(t, d.SetHealth("s1", true))
	assert.Equal(t, http.StatusOK, health())
	require.Error(t, d.SetHealth("nope", true))
}

func TestStartDelay(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, _ := d.AddressPlan()

	start := time.Now()
	require.NoError(t, d.Boot(t.Context(), spec("slow", host(priv, 2), map[string]string{"remint_workload_start_delay": "300ms"})))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	// Deleting a server while it boots ends the boot at once.
	booted := make(chan error, 1)
	go func() {
		booted <- d.Boot(t.Context(), spec("stuck", host(priv, 3), map[string]string{"remint_workload_start_delay": "1h"}))
	}()
	require.Eventually(t, func() bool { return len(d.Servers()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, d.Delete(t.Context(), "stuck"))
	select {
	case err := <-booted:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Boot did not return after Delete")
	}
}

func TestConsoleLog(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	d, err := NewFree(Options{Now: func() time.Time { return clock }})
	require.NoError(t, err)
	defer d.Close()
	priv, _ := d.AddressPlan()
	ip := host(priv, 7)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip, map[string]string{"remint_version": "2026.11.1"})))
	log, err := d.ConsoleLog(t.Context(), "s1")
	require.NoError(t, err)
	for _, want := range []string{
		"[    0.000000] Linux version 6.1.0-28-cloud-amd64",
		"Cloud-init v. 23.1 running 'init-local' at Sun, 22 Nov 2026 05:00:00 +0000. Up 0.00 seconds.",
		"Cloud-init v. 23.1 running 'init' at",
		"ci-info: | eth0 | True | " + ip + " | 255.255.0.0 | global |",
		"Cloud-init v. 23.1 running 'modules:final' at",
		`remint-workload starting for server s1: image debian-12-remint (img-s1) version "2026.11.1", health healthy, start delay 0s`,
		"remint-workload listening on " + ip + ":8080",
		"Cloud-init v. 23.1 finished at Sun, 22 Nov 2026 05:00:00 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 0.00 seconds",
		"Debian GNU/Linux 12 web-s1 ttyS0",
		"web-s1 login: ",
	} {
		assert.Contains(t, log, want)
	}
	assert.True(t, strings.HasSuffix(log, "\n"))
	assert.Less(t, strings.Index(log, "running 'init'"), strings.Index(log, "listening on"))

	ref, err := d.Snapshot(t.Context(), "s1", "img-new")
	require.NoError(t, err)
	assert.Equal(t, "loopback:s1@img-new", ref)
	_, err = d.Snapshot(t.Context(), "nope", "img-new")
	require.Error(t, err)
}

func TestBootErrors(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	priv, _ := d.AddressPlan()
	ip := host(priv, 2)
	require.NoError(t, d.Boot(t.Context(), spec("s1", ip, nil)))

	err := d.Boot(t.Context(), spec("s1", host(priv, 5), nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already running")

	err = d.Boot(t.Context(), spec("s2", "10.0.0.5", nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "serves only addresses in 127.0.0.0/8")

	// Someone else's address: the workload cannot listen, the boot fails (ERROR).
	err = d.Boot(t.Context(), spec("s3", ip, nil))
	require.Error(t, err)
	log, lerr := d.ConsoleLog(t.Context(), "s3")
	require.NoError(t, lerr, "a failed server keeps its console")
	assert.Contains(t, log, "remint-workload.service: failed")
	// The simulator frees a server that failed to boot at once; its console stays readable.
	require.NoError(t, d.Delete(t.Context(), "s3"))
	log, lerr = d.ConsoleLog(t.Context(), "s3")
	require.NoError(t, lerr)
	assert.Contains(t, log, "remint-workload.service: failed")

	err = d.Boot(t.Context(), spec("s4", host(priv, 4), map[string]string{"remint_workload_health": "sick"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "remint_workload_health")

	// No network: boots with nothing listening.
	require.NoError(t, d.Boot(t.Context(), spec("s5", "", nil)))
	log, err = d.ConsoleLog(t.Context(), "s5")
	require.NoError(t, err)
	assert.Contains(t, log, "no network interfaces")
}

func TestDriverBasics(t *testing.T) {
	t.Parallel()
	d := New(Options{})
	defer d.Close()
	assert.Equal(t, "loopback", d.Name())
	priv, pub := d.AddressPlan()
	assert.Equal(t, "127.10.0.0/16", priv.String())
	assert.Equal(t, "127.20.0.0/16", pub.String())
	ref, err := d.SeedImage(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "loopback:debian-12", ref)

	for name, want := range map[string]string{
		"Web 1":                 "web-1",
		"--db__main!":           "db-main",
		"":                      "host-abc",
		"ÄÖ":                    "host-abc",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		assert.Equal(t, want, hostname(name, "abc"), name)
	}
}

func TestNewFreePlansDoNotCollide(t *testing.T) {
	t.Parallel()
	a, err := NewFree(Options{})
	require.NoError(t, err)
	b, err := NewFree(Options{})
	require.NoError(t, err)
	pa1, pa2 := a.AddressPlan()
	pb1, pb2 := b.AddressPlan()
	seen := map[netip.Prefix]bool{}
	for _, p := range []netip.Prefix{pa1, pa2, pb1, pb2} {
		assert.False(t, seen[p], "prefix %s handed out twice", p)
		seen[p] = true
		assert.Equal(t, 16, p.Bits())
		second := p.Addr().As4()[1]
		assert.True(t, second >= freeFirst && second <= freeLast, p)
	}
	// The reservation is real: the gateway port is taken until Close.
	gw := net.JoinHostPort(host(pa1, 1), "8080")
	_, err = net.Listen("tcp", gw)
	require.Error(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	ln, err := net.Listen("tcp", gw)
	require.NoError(t, err, "Close releases the reservation")
	ln.Close()
	require.Error(t, a.Boot(t.Context(), spec("late", host(pa1, 2), nil)), "a closed driver boots nothing")
}

func TestKeptConsolesAreBounded(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	for i := range maxLastWords + 10 {
		id := fmt.Sprintf("s%d", i)
		require.NoError(t, d.Boot(t.Context(), spec(id, "", nil)))
		require.NoError(t, d.Delete(t.Context(), id))
	}
	_, err := d.ConsoleLog(t.Context(), "s0")
	require.Error(t, err, "the oldest kept console is dropped")
	_, err = d.ConsoleLog(t.Context(), fmt.Sprintf("s%d", maxLastWords+9))
	require.NoError(t, err)
	d.mu.Lock()
	assert.Len(t, d.lastWords, maxLastWords)
	assert.Len(t, d.lastWordOrder, maxLastWords)
	d.mu.Unlock()

	// Booting an id again forgets its kept console.
	id := fmt.Sprintf("s%d", maxLastWords+9)
	require.NoError(t, d.Boot(t.Context(), spec(id, "", nil)))
	d.mu.Lock()
	assert.Len(t, d.lastWords, maxLastWords-1)
	assert.Len(t, d.lastWordOrder, maxLastWords-1)
	d.mu.Unlock()
}

func TestNewReserved(t *testing.T) {
	t.Parallel()
	free, err := NewFree(Options{})
	require.NoError(t, err)
	priv, pub := free.AddressPlan()
	require.NoError(t, free.Close()) // the pair is free again

	a, err := NewReserved(Options{PrivateCIDR: priv, PublicCIDR: pub})
	require.NoError(t, err)
	gotPriv, gotPub := a.AddressPlan()
	assert.Equal(t, priv, gotPriv)
	assert.Equal(t, pub, gotPub)
	_, err = NewReserved(Options{PrivateCIDR: priv, PublicCIDR: pub})
	require.ErrorIs(t, err, syscall.EADDRINUSE, "a second simulator cannot take the same plan")
	require.NoError(t, a.Close())
	b, err := NewReserved(Options{PrivateCIDR: priv, PublicCIDR: pub})
	require.NoError(t, err, "Close released it")
	require.NoError(t, b.Close())
}
