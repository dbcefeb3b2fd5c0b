package inplace

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/store"
)

// fakeHost is a Debian host with state: what is installed changes when apt-get install
// runs. It answers the commands the phases run with output captured from a real
// docker-driver server (internal/debian/testdata).
type fakeHost struct {
	mu        sync.Mutex
	installed map[string]string
	files     map[string]string
	commands  []string
}

func testdata(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("..", "internal", "debian", "testdata", name))
	require.NoError(t, err)
	return string(b)
}

type fakeConn struct {
	t    *testing.T
	host *fakeHost
}

func (c fakeConn) Run(_ context.Context, argv []string) (remote.Result, error) {
	h := c.host
	h.mu.Lock()
	defer h.mu.Unlock()
	line := strings.Join(argv, " ")
	h.commands = append(h.commands, line)
	ok := func(out string) (remote.Result, error) { return remote.Result{Argv: argv, Stdout: out}, nil }
	switch {
	case strings.Contains(line, "python3 -c"):
		return ok("")
	case strings.Contains(line, "df -Pk"):
		return ok(testdata(c.t, "server-df.txt"))
	case strings.Contains(line, "dpkg --audit"), strings.HasSuffix(line, "apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300 update"):
		return ok("")
	case line == "cat /etc/os-release":
		return ok(testdata(c.t, "server-os-release.txt"))
	case strings.Contains(line, "apt-get -s"):
		if h.installed["demo-libssl"] != "1.0-1" {
			return ok(strings.Replace(testdata(c.t, "server-simulate.txt"), "Inst demo-libssl", "Skip demo-libssl", 1))
		}
		return ok(testdata(c.t, "server-simulate.txt"))
	case line == "env LANG=C apt-cache policy":
		return ok(testdata(c.t, "server-policy.txt"))
	case strings.HasPrefix(line, "env LANG=C apt-cache policy "):
		return ok(testdata(c.t, "server-policy-pkgs.txt"))
	case strings.Contains(line, " install --no-install-recommends "):
		for _, a := range argv[slices.Index(argv, "--no-install-recommends")+1:] {
			name, ver, _ := strings.Cut(a, "=")
			h.installed[name] = ver
		}
		return ok("")
	case strings.HasPrefix(line, "dpkg-query"):
		var out strings.Builder
		for _, n := range argv[5:] {
			if v := h.installed[n]; v != "" {
				out.WriteString(n + "\tii \t" + v + "\n")
			}
		}
		return ok(out.String())
	case strings.HasPrefix(line, "sudo -n cat -- "):
		if f, found := h.files[argv[4]]; found {
			return ok(f)
		}
		return remote.Result{Argv: argv, ExitStatus: 1}, nil
	case strings.HasPrefix(line, "sudo -n sh -c set -e; umask 077"):
		h.files[argv[len(argv)-2]] = argv[len(argv)-3]
		return ok("")
	case strings.Contains(line, "reboot-required"):
		return ok("")
	}
	c.t.Errorf("fake host: unexpected command %q", line)
	return remote.Result{Argv: argv, ExitStatus: 127}, nil
}

func (fakeConn) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no engine")
}

func (fakeConn) Upload(context.Context, string, fs.FileMode, io.Reader, ...remote.UploadOption) error {
	return errors.New("no upload")
}
func (fakeConn) Close() error { return nil }

type fakeDialer struct {
	t     *testing.T
	mu    sync.Mutex
	hosts map[string]*fakeHost // by server id; missing: connection refused
	dials []string
}

func (d *fakeDialer) Dial(_ context.Context, s Server) (Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials = append(d.dials, s.Name)
	h, ok := d.hosts[s.ID]
	if !ok {
		return nil, errors.New("connection refused")
	}
	return fakeConn{t: d.t, host: h}, nil
}

type noReboot struct{}

func (noReboot) RebootServer(context.Context, string, bool) error { return errors.New("not expected") }
func (noReboot) WaitServerActive(context.Context, string) (openstack.Server, error) {
	return openstack.Server{}, errors.New("not expected")
}

func newFakeFleet(t *testing.T, good ...string) *fakeDialer {
	d := &fakeDialer{t: t, hosts: map[string]*fakeHost{}}
	for _, id := range good {
		d.hosts[id] = &fakeHost{installed: map[string]string{"demo-libssl": "1.0-1", "demo-tool": "1.0-1"}, files: map[string]string{}}
	}
	return d
}

// TestRunBudgetJournalResume drives Run over fake hosts with a real state store: the
// budget stops the roll, every server's outcome is recorded, a resume touches only what
// did not succeed.
func TestRunBudgetJournalResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	servers := []Server{{ID: "b", Name: "db-bad"}, {ID: "g1", Name: "db-1"}, {ID: "g2", Name: "db-2"}}
	now := func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

	// Budget 0: the first failure stops the roll.
	d := newFakeFleet(t, "g1", "g2")
	sum, err := Run(ctx, Deps{Dialer: d, Rebooter: noReboot{}, Journal: st, Now: now},
		Plan{ID: "r1", Group: "db", Servers: servers, Options: Options{Security: true, Reboot: RebootIfRequired, Concurrency: 1}})
	require.ErrorIs(t, err, ErrFailed)
	assert.Equal(t, []string{"db-bad"}, d.dials)
	assert.Equal(t, []string{StatusFailed, StatusNotStarted, StatusNotStarted}, statuses(sum))
	assert.Contains(t, sum.Error, "error budget 0 spent")
	rows, err := st.InplaceServers(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, PhaseConnect, rows[0].Phase)
	assert.Contains(t, rows[0].Error, "connection refused")
	assert.Equal(t, StatusNotStarted, rows[2].Status)
	run, err := st.LatestInplaceRun(ctx, "db")
	require.NoError(t, err)
	assert.Equal(t, store.InplaceFailed, run.Status)

	// Budget 1: the others run; only the security update is installed.
	d = newFakeFleet(t, "g1", "g2")
	sum, err = Run(ctx, Deps{Dialer: d, Rebooter: noReboot{}, Journal: st, Now: now},
		Plan{ID: "r2", Group: "db", Servers: servers, Options: Options{Security: true, Concurrency: 2, MaxErrors: Budget{Count: 1}}})
	require.ErrorIs(t, err, ErrFailed, "a failed server fails the run even within the budget")
	assert.Equal(t, []string{StatusFailed, StatusSucceeded, StatusSucceeded}, statuses(sum))
	assert.Equal(t, "1.0-1+deb12u1", d.hosts["g1"].installed["demo-libssl"])
	assert.Equal(t, "1.0-1", d.hosts["g1"].installed["demo-tool"], "not a security update: left alone")
	assert.Equal(t, []Change{{Name: "demo-libssl", From: "1.0-1", To: "1.0-1+deb12u1"}}, sum.Servers[1].Security.Installed)
	assert.Contains(t, d.hosts["g2"].files, "/etc/apt/apt.conf.d/52remint-security-only")

	// Resume r2 as if it had been killed: db-1 and db-2 succeeded, only db-bad is retried.
	prev, err := st.InplaceServers(ctx, "r2")
	require.NoError(t, err)
	done := map[string]ServerResult{}
	for _, r := range prev {
		done[r.ServerID] = DecodeServerResult(r)
	}
	d = newFakeFleet(t, "b", "g1", "g2")
	sum, err = Run(ctx, Deps{Dialer: d, Rebooter: noReboot{}, Journal: st, Now: now},
		Plan{ID: "r2", Group: "db", Servers: servers, Resume: true, Done: done, Options: Options{Security: true, Concurrency: 2}})
	require.NoError(t, err)
	assert.Equal(t, []string{"db-bad"}, d.dials)
	assert.Equal(t, []string{StatusSucceeded, StatusSucceeded, StatusSucceeded}, statuses(sum))
	pending, err := PendingUpdates(ctx, st, "db")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"b": 1, "g1": 1, "g2": 1}, pending, "demo-tool stays pending everywhere")
}

func statuses(s Summary) []string {
	out := make([]string, len(s.Servers))
	for i, r := range s.Servers {
		out[i] = r.Status
	}
	return out
}
