package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// testServer is a real SSH server on loopback that runs exec requests with sh -c locally.
type testServer struct {
	addr    string
	hostKey ssh.PublicKey
	ln      net.Listener
	wg      sync.WaitGroup
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s
}

func startServer(t *testing.T, clientKey ssh.PublicKey) *testServer {
	t.Helper()
	host := newSigner(t)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(k.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testServer{addr: ln.Addr().String(), hostKey: host.PublicKey(), ln: ln}
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c, cfg) }()
		}
	}()
	return s
}

func (s *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" {
					_ = r.Reply(false, nil)
					continue
				}
				n := binary.BigEndian.Uint32(r.Payload[:4])
				cmdline := string(r.Payload[4 : 4+n])
				_ = r.Reply(true, nil)
				cmd := exec.Command("sh", "-c", cmdline)
				cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
				status := 0
				if err := cmd.Run(); err != nil {
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						status = ee.ExitCode()
					} else {
						status = 127
					}
				}
				b := make([]byte, 4)
				binary.BigEndian.PutUint32(b, uint32(status))
				_, _ = ch.SendRequest("exit-status", false, b)
				return
			}
		}()
	}
}

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

func TestRunnerLearnsHostKeysOnce(t *testing.T) {
	t.Parallel()
	client := newSigner(t)
	srv := startServer(t, client.PublicKey())
	host, port, err := net.SplitHostPort(srv.addr)
	require.NoError(t, err)
	lookups := 0
	stable := true
	r := &Runner{User: "root", Signer: client, HostKeys: func(_ context.Context, h string) (HostKeyPolicy, bool, error) {
		lookups++
		require.Equal(t, net.JoinHostPort(host, port), h)
		return Fingerprints{ssh.FingerprintSHA256(srv.hostKey)}, stable, nil
	}}
	for i := 0; i < 3; i++ {
		status, out, err := r.RunCheck(context.Background(), srv.addr, []string{"sh", "-c", "echo checked; exit 4"})
		require.NoError(t, err)
		require.Equal(t, 4, status)
		require.Equal(t, "checked\n", out)
	}
	require.Equal(t, 1, lookups, "a fixed address's keys are looked up once")

	stable, lookups = false, 0
	r = &Runner{User: "root", Signer: client, HostKeys: r.HostKeys}
	for i := 0; i < 2; i++ {
		_, _, err := r.RunCheck(context.Background(), srv.addr, []string{"true"})
		require.NoError(t, err)
	}
	require.Equal(t, 2, lookups, "a floating address is looked up every time")

	bad := &Runner{User: "root", Signer: client, HostKeys: func(context.Context, string) (HostKeyPolicy, bool, error) {
		return Fingerprints{"SHA256:not-it"}, true, nil
	}}
	_, _, err = bad.RunCheck(context.Background(), srv.addr, []string{"true"})
	var mm *HostKeyMismatchError
	require.ErrorAs(t, err, &mm)
}
