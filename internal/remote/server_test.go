package remote

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// testServer is a real SSH server on loopback that runs exec requests with sh -c locally,
// with the session's stdin, stdout and stderr wired to the command.
type testServer struct {
	addr    string
	hostKey ssh.PublicKey
	env     []string // added to each command's environment
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

// startServer starts a server on a free port of 127.0.0.1 that accepts clientKey.
func startServer(t *testing.T, clientKey ssh.PublicKey, env ...string) *testServer {
	t.Helper()
	s, err := listenSSH("127.0.0.1:0", newSigner(t), clientKey, env...)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// listenSSH starts a server on addr with host key host that accepts clientKey; Close stops it.
func listenSSH(addr string, host ssh.Signer, clientKey ssh.PublicKey, env ...string) (*testServer, error) {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(k.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(host)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &testServer{addr: ln.Addr().String(), hostKey: host.PublicKey(), env: env, ln: ln}
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
	return s, nil
}

// Close stops listening and waits for the sessions to end.
func (s *testServer) Close() { s.ln.Close(); s.wg.Wait() }

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
				cmd.Env = append(os.Environ(), s.env...)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
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

func fingerprint(k ssh.PublicKey) string { return ssh.FingerprintSHA256(k) }
