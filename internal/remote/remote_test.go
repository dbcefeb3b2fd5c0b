package remote

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestRunVerifiesHostKeyFromConsole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := newSigner(t)
	srv := startServer(t, client.PublicKey())
	console := "Cloud-init v. 23.1 running 'modules:final'\n" +
		indent("ec2: ", FormatConsoleHostKeys("web-0", []ssh.PublicKey{srv.hostKey})) +
		"Cloud-init v. 23.1 finished\n"
	fps, err := HostKeysFromConsole(console)
	require.NoError(t, err)
	require.Equal(t, Fingerprints{ssh.FingerprintSHA256(srv.hostKey)}, fps)

	c, err := Dial(ctx, Config{Addr: srv.addr, User: "root", Signer: client, HostKey: fps})
	require.NoError(t, err)
	defer c.Close()

	res, err := c.Run(ctx, []string{"echo", "it's $HOME; rm -rf /"})
	require.NoError(t, err)
	require.Equal(t, "it's $HOME; rm -rf /\n", res.Stdout, "arguments reach the command verbatim, never interpreted")
	require.NoError(t, res.Err())

	res, err = c.Run(ctx, []string{"sh", "-c", "echo oops >&2; exit 3"})
	require.NoError(t, err)
	require.Equal(t, 3, res.ExitStatus)
	require.ErrorContains(t, res.Err(), "exit status 3: oops")
}

func TestMismatchingHostKeyRefused(t *testing.T) {
	t.Parallel()
	client := newSigner(t)
	srv := startServer(t, client.PublicKey())
	other := newSigner(t).PublicKey()
	_, err := Dial(context.Background(), Config{Addr: srv.addr, User: "root", Signer: client,
		HostKey: Fingerprints{ssh.FingerprintSHA256(other)}})
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm)
	require.Equal(t, ssh.FingerprintSHA256(srv.hostKey), mm.Offered)
	require.ErrorContains(t, err, "refusing to connect")

	_, err = Dial(context.Background(), Config{Addr: srv.addr, User: "root", Signer: client})
	require.ErrorContains(t, err, "no host key policy")
}

func TestRunTimeoutStopsRemoteCommand(t *testing.T) {
	t.Parallel()
	client := newSigner(t)
	srv := startServer(t, client.PublicKey())
	c, err := Dial(context.Background(), Config{Addr: srv.addr, User: "root", Signer: client, HostKey: InsecureIgnoreHostKey{}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := c.Run(ctx, []string{"sleep", "30"})
	// timeout(1) on the host ends the command with status 124 before our context ends,
	// or our context ends first; either way it does not run for 30s.
	if err == nil {
		require.Equal(t, 124, res.ExitStatus)
	} else {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestHostKeysFromConsole(t *testing.T) {
	t.Parallel()
	_, err := HostKeysFromConsole("no keys here\n")
	require.ErrorContains(t, err, "no SSH host keys")

	k1, k2 := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	// A reboot prints the block again; fingerprint-only blocks are read too.
	log := FormatConsoleHostKeys("a", []ssh.PublicKey{k1}) + "reboot\n" + FormatConsoleHostKeys("a", []ssh.PublicKey{k1}) +
		"-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 " + ssh.FingerprintSHA256(k2) + " root@a (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n"
	fps, err := HostKeysFromConsole(log)
	require.NoError(t, err)
	require.Equal(t, Fingerprints{ssh.FingerprintSHA256(k1), ssh.FingerprintSHA256(k2)}, fps)
}

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"apt-get", "install", "-y", "demo-libssl=1.0-1+deb12u1"}, "apt-get install -y demo-libssl=1.0-1+deb12u1"},
		{[]string{"echo", ""}, "echo ''"},
		{[]string{"echo", "a b"}, "echo 'a b'"},
		{[]string{"echo", "it's"}, `echo 'it'\''s'`},
		{[]string{"echo", "$(reboot)"}, "echo '$(reboot)'"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Quote(tt.in))
	}
}

func indent(prefix, s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
