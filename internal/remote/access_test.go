package remote

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/openstack"
)

var _ health.Runner = (*Runner)(nil)

func TestDialServerTrustsOnlyConsoleKeys(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := w.boot(t, ctx, "web-0", bootOpts{})
	evil := w.boot(t, ctx, "web-1", bootOpts{impostor: true})
	access := w.access()

	for range 3 {
		c, err := access.DialServer(ctx, a)
		require.NoError(t, err)
		require.Equal(t, "web-0\n", whoami(t, ctx, c))
		require.NoError(t, c.Close())
	}
	require.Equal(t, 1, w.d.consoleReads(a.ID), "a server's console keys are read once and remembered by id")

	_, err := access.DialServer(ctx, evil)
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm, "a host that offers a key the console does not show is refused")
	require.Contains(t, err.Error(), "refusing to connect")

	_, err = access.DialServer(ctx, openstack.Server{ID: "x", Name: "nowhere"})
	require.ErrorContains(t, err, "has no fixed address")

	// Not parallel-safe to share: a fresh Access has no cache but still only one read.
	fresh := w.access()
	c, err := fresh.DialServer(ctx, a)
	require.NoError(t, err)
	c.Close()
	require.Equal(t, 2, w.d.consoleReads(a.ID))
}

func TestKnownHostsReplacesConsoleTrust(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Its console never shows keys, so only known_hosts can vouch for it.
	srv := w.boot(t, ctx, "pet-0", bootOpts{noKeys: true})

	impatient := w.access()
	impatient.ConsoleWait = 300 * time.Millisecond
	_, err := impatient.DialServer(ctx, srv)
	require.ErrorIs(t, err, ErrNoConsoleHostKeys)
	reads := w.d.consoleReads(srv.ID)

	// Learn the key the way an operator would (ssh-keyscan), then trust the file alone.
	offered := scanHostKey(t, srv.AccessIP, w.d.port)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownHostsLine(srv.AccessIP, w.d.port, offered)
	require.NoError(t, os.WriteFile(kh, []byte(line), 0o600))
	access := w.access()
	access.KnownHosts = kh
	c, err := access.DialServer(ctx, srv)
	require.NoError(t, err)
	require.Equal(t, "pet-0\n", whoami(t, ctx, c))
	c.Close()
	require.Equal(t, reads, w.d.consoleReads(srv.ID), "with known_hosts the console is not read")

	// A known_hosts entry with another key for the address: refused, naming the file.
	require.NoError(t, os.WriteFile(kh, []byte(knownHostsLine(srv.AccessIP, w.d.port, mustSigner().PublicKey())), 0o600))
	_, err = access.DialServer(ctx, srv)
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm)
	require.ErrorContains(t, err, "host key verification failed")
	require.ErrorContains(t, err, "known_hosts "+kh)

	// An address missing from the file is refused too, and a file that is not there says so.
	require.NoError(t, os.WriteFile(kh, nil, 0o600))
	_, err = access.DialServer(ctx, srv)
	require.ErrorAs(t, err, &mm)
	require.ErrorContains(t, err, "has no key for it")
	access.KnownHosts = filepath.Join(t.TempDir(), "none")
	_, err = access.DialServer(ctx, srv)
	require.ErrorContains(t, err, "read known_hosts "+access.KnownHosts+": no such file")
}

func TestInsecureOptOutWarns(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	evil := w.boot(t, ctx, "evil-0", bootOpts{impostor: true})
	var logs bytes.Buffer
	access := w.access()
	access.InsecureIgnoreHostKey = true
	access.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for range 2 {
		c, err := access.DialServer(ctx, evil)
		require.NoError(t, err, "the opt-out accepts any key")
		require.Equal(t, "evil-0\n", whoami(t, ctx, c))
		c.Close()
	}
	require.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), logs.String())
	require.Contains(t, logs.String(), "SSH host key verification is DISABLED")

	access.KnownHosts = "/etc/ssh/ssh_known_hosts"
	_, err := access.DialServer(ctx, evil)
	require.ErrorContains(t, err, "choose one")
}

func TestConsoleKeysAppearAfterBoot(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	slow := w.boot(t, ctx, "slow-0", bootOpts{keysAfter: 1500 * time.Millisecond})
	c, err := w.access().DialServer(ctx, slow)
	require.NoError(t, err, "the console is read again until the keys appear")
	require.Equal(t, "slow-0\n", whoami(t, ctx, c))
	c.Close()
	require.Greater(t, w.d.consoleReads(slow.ID), 1)

	never := w.boot(t, ctx, "never-0", bootOpts{noKeys: true})
	access := w.access()
	access.ConsoleWait = 700 * time.Millisecond
	start := time.Now()
	_, err = access.DialServer(ctx, never)
	require.ErrorIs(t, err, ErrNoConsoleHostKeys)
	require.ErrorContains(t, err, "server never-0 ("+never.ID+")")
	require.Less(t, time.Since(start), 30*time.Second)
	require.Greater(t, w.d.consoleReads(never.ID), 1)

	// A server booted long ago is read once: keys missing there will not appear.
	old := never
	old.Created = time.Now().Add(-time.Hour)
	before := w.d.consoleReads(never.ID)
	_, err = w.access().DialServer(ctx, old)
	require.ErrorIs(t, err, ErrNoConsoleHostKeys)
	require.Equal(t, before+1, w.d.consoleReads(never.ID))
}

func TestDialAddressFollowsFloatingIP(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := w.boot(t, ctx, "web-0", bootOpts{})
	b := w.boot(t, ctx, "web-1", bootOpts{})
	fip, err := w.cloud.AllocateFloatingIP(ctx, "public", "test")
	require.NoError(t, err)
	move := func(to openstack.Server) {
		t.Helper()
		ports, err := w.cloud.PortsOfServer(ctx, to.ID)
		require.NoError(t, err)
		require.Len(t, ports, 1)
		fip, err = w.cloud.AssociateFloatingIP(ctx, fip.ID, ports[0].ID, fip.RevisionNumber)
		require.NoError(t, err)
	}
	access := w.access()
	checks := access.Runner()

	move(a)
	c, err := access.DialAddress(ctx, fip.Address)
	require.NoError(t, err)
	require.Equal(t, "web-0\n", whoami(t, ctx, c))
	c.Close()

	move(b)
	c, err = access.DialAddress(ctx, fip.Address)
	require.NoError(t, err, "after the move the replacement's key passes")
	require.Equal(t, "web-1\n", whoami(t, ctx, c))
	c.Close()
	status, out, err := checks.RunCheck(ctx, fip.Address, []string{"sh", "-c", `echo "$TEST_SERVER"; exit 3`})
	require.NoError(t, err)
	require.Equal(t, 3, status)
	require.Equal(t, "web-1\n", out)

	// The cloud says the address is on web-1, but web-0 answers on it (a stale route, or
	// someone in the middle): web-0's key must not pass for web-1's.
	require.NoError(t, w.d.proxy.Set(ctx, fip.Address, a.AccessIP))
	_, err = access.DialAddress(ctx, fip.Address)
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm)
	_, _, err = checks.RunCheck(ctx, fip.Address, []string{"true"})
	require.ErrorAs(t, err, &mm)
	require.NoError(t, w.d.proxy.Set(ctx, fip.Address, b.AccessIP))

	// Fixed addresses work the same way, and an address nobody has is a clear error.
	status, out, err = checks.RunCheck(ctx, a.AccessIP, []string{"sh", "-c", `echo "$TEST_SERVER"`})
	require.NoError(t, err)
	require.Equal(t, 0, status)
	require.Equal(t, "web-0\n", out)

	fip, err = w.cloud.DisassociateFloatingIP(ctx, fip.ID, fip.RevisionNumber)
	require.NoError(t, err)
	_, err = access.DialAddress(ctx, fip.Address)
	require.ErrorContains(t, err, "floating IP "+fip.Address+": it is associated with no server")
	_, err = access.DialAddress(ctx, "127.0.0.99")
	require.ErrorContains(t, err, "no server has the address 127.0.0.99")
	_, err = access.DialAddress(ctx, "web-0")
	require.ErrorContains(t, err, "not an IP address")

	scoped := w.access()
	scoped.Servers = openstack.ListServersOpts{NamePrefix: "db-"}
	_, err = scoped.DialAddress(ctx, a.AccessIP)
	require.ErrorContains(t, err, "no server named db-… has the address "+a.AccessIP)

	require.Equal(t, 1, w.d.consoleReads(a.ID), "console keys are remembered per server id across addresses")
	require.Equal(t, 1, w.d.consoleReads(b.ID))
}

// A fixed address freed by a deleted server is handed to the next one (the simulator's
// IPAM reuses the lowest free address, as Neutron may): the remembered server's key no
// longer matches, the cloud is asked again, and the new server's console key passes.
func TestFixedAddressReusedByAnotherServer(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := w.boot(t, ctx, "web-0", bootOpts{})
	access := w.access()
	status, out, err := access.Runner().RunCheck(ctx, old.AccessIP, []string{"sh", "-c", `echo "$TEST_SERVER"`})
	require.NoError(t, err)
	require.Equal(t, 0, status)
	require.Equal(t, "web-0\n", out)

	require.NoError(t, w.cloud.DeleteServer(ctx, old.ID))
	require.NoError(t, w.cloud.WaitServerDeleted(ctx, old.ID))
	repl := w.boot(t, ctx, "web-0-new", bootOpts{})
	require.Equal(t, old.AccessIP, repl.AccessIP, "the simulator reuses the freed address")

	_, out, err = access.Runner().RunCheck(ctx, repl.AccessIP, []string{"sh", "-c", `echo "$TEST_SERVER"`})
	require.NoError(t, err)
	require.Equal(t, "web-0-new\n", out)

	// An impostor on a reused address is still refused after the fresh look-up.
	require.NoError(t, w.cloud.DeleteServer(ctx, repl.ID))
	require.NoError(t, w.cloud.WaitServerDeleted(ctx, repl.ID))
	evil := w.boot(t, ctx, "web-0-evil", bootOpts{impostor: true})
	require.Equal(t, old.AccessIP, evil.AccessIP)
	_, _, err = access.Runner().RunCheck(ctx, evil.AccessIP, []string{"true"})
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm)
}

func TestWaitForSSH(t *testing.T) {
	t.Parallel()
	w := startSimWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	access := w.access()

	// sshd and the console keys come up a while after ACTIVE, as on a real first boot.
	late := w.boot(t, ctx, "builder-0", bootOpts{keysAfter: time.Second, sshAfter: 2 * time.Second})
	c, err := access.WaitForSSH(ctx, late, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "builder-0\n", whoami(t, ctx, c))
	c.Close()

	// A mismatch is final: returned at once, not after the timeout.
	evil := w.boot(t, ctx, "builder-1", bootOpts{impostor: true})
	start := time.Now()
	_, err = access.WaitForSSH(ctx, evil, time.Minute)
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm)
	require.Less(t, time.Since(start), 20*time.Second)

	// A server whose sshd never comes up: a bounded wait that says what it tried.
	dead := w.boot(t, ctx, "builder-2", bootOpts{sshAfter: time.Hour})
	_, err = access.WaitForSSH(ctx, dead, 1500*time.Millisecond)
	require.ErrorContains(t, err, "wait for SSH on server builder-2 ("+dead.ID+") at "+dead.AccessIP+": gave up after")
	require.ErrorContains(t, err, "connection refused")
}

// scanHostKey returns the host key the server at ip:port offers, as ssh-keyscan would.
func scanHostKey(t *testing.T, ip string, port int) ssh.PublicKey {
	t.Helper()
	var got ssh.PublicKey
	_, err := Dial(context.Background(), Config{Addr: joinPort(ip, port), User: "x", Signer: mustSigner(),
		HostKey: recordKey{&got}, Timeout: 5 * time.Second})
	require.Error(t, err, "the scan's login is refused on purpose")
	require.NotNil(t, got)
	return got
}

// recordKey accepts any key and records it; only for scanHostKey.
type recordKey struct{ key *ssh.PublicKey }

func (r recordKey) callback() (ssh.HostKeyCallback, error) {
	return func(_ string, _ net.Addr, k ssh.PublicKey) error { *r.key = k; return nil }, nil
}
func (recordKey) String() string { return "record" }

func knownHostsLine(ip string, port int, k ssh.PublicKey) string {
	return knownhosts.Line([]string{joinPort(ip, port)}, k) + "\n"
}

func joinPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
