package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config says how to reach and authenticate to one server.
type Config struct {
	// Addr is host:port; a bare host gets port 22.
	Addr string
	User string
	// Signer is the private key remint authenticates with.
	Signer ssh.Signer
	// HostKey verifies the server; required (use InsecureIgnoreHostKey{} to opt out).
	HostKey HostKeyPolicy
	// Timeout bounds the TCP connect and SSH handshake; default 15s.
	Timeout time.Duration
	// KeepAlive sends keepalives at this interval while connected; default 15s, <0 off.
	KeepAlive time.Duration
	Logger    *slog.Logger

	// insecureWarned says the caller (Access) has already warned that verification is off.
	insecureWarned bool
}

// Client is an SSH connection to one server.
type Client struct {
	addr string
	ssh  *ssh.Client
	log  *slog.Logger
	done chan struct{}
}

// Dial connects and authenticates, verifying the host key per cfg.HostKey.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.HostKey == nil {
		return nil, errors.New("ssh: no host key policy: verify host keys, or ask for InsecureIgnoreHostKey explicitly")
	}
	if cfg.Signer == nil {
		return nil, errors.New("ssh: no private key")
	}
	addr := cfg.Addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hostKeyCallback, err := cfg.HostKey.callback()
	if err != nil {
		return nil, fmt.Errorf("ssh %s@%s: %w", cfg.User, addr, err)
	}
	if _, ok := cfg.HostKey.(InsecureIgnoreHostKey); ok && !cfg.insecureWarned {
		log.Warn("SSH host key verification is DISABLED on request (--insecure-ignore-host-key): anyone at this address can impersonate the server",
			"addr", addr)
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s@%s: %w", cfg.User, addr, err)
	}
	// The handshake has no context: bound it with a deadline on the connection.
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            cfg.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer)},
		HostKeyCallback: hostKeyCallback,
		Timeout:         cfg.Timeout,
	})
	if err != nil {
		conn.Close()
		var mismatch *HostKeyMismatchError
		if errors.As(err, &mismatch) {
			return nil, mismatch
		}
		return nil, fmt.Errorf("ssh %s@%s: %w", cfg.User, addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	c := &Client{addr: addr, ssh: ssh.NewClient(cc, chans, reqs), log: log, done: make(chan struct{})}
	if cfg.KeepAlive > 0 {
		go c.keepAlive(cfg.KeepAlive)
	}
	return c, nil
}

func (c *Client) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if _, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil); err != nil {
				return
			}
		}
	}
}

// Close ends the connection.
func (c *Client) Close() error {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	return c.ssh.Close()
}

// Addr is the host:port connected to.
func (c *Client) Addr() string { return c.addr }

// DialContext opens a connection from the server, e.g. ("unix", "/var/run/docker.sock")
// to reach its Docker engine through the SSH connection.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.ssh.DialContext(ctx, network, addr)
}

// Result is the outcome of a command that ran.
type Result struct {
	Argv       []string
	ExitStatus int
	Stdout     string
	Stderr     string
	Duration   time.Duration
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Result Result
}

func (e *ExitError) Error() string {
	tail := strings.TrimSpace(e.Result.Stderr)
	if tail == "" {
		tail = strings.TrimSpace(e.Result.Stdout)
	}
	if len(tail) > 400 {
		tail = "…" + tail[len(tail)-400:]
	}
	return fmt.Sprintf("%s: exit status %d: %s", strings.Join(e.Result.Argv, " "), e.Result.ExitStatus, tail)
}

// Err returns an *ExitError when the command exited non-zero, nil otherwise.
func (r Result) Err() error {
	if r.ExitStatus != 0 {
		return &ExitError{Result: r}
	}
	return nil
}

// Cmd is one command to run on the server.
type Cmd struct {
	// Argv is the command and its arguments, quoted for the remote shell by Quote.
	Argv []string
	// Stdin, when set, is copied to the command's standard input, which is closed at its
	// end. A read error fails the run (the command may already have read part of it).
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the command's output as it arrives.
	Stdout, Stderr io.Writer
}

// Run runs argv on the server and waits for it. The error is for failures to run it (the
// connection broke, the context ended); a non-zero exit is in Result (see Result.Err).
// When ctx has a deadline, the command is wrapped in timeout(1) on the server, because
// ending the SSH session does not stop a remote command.
func (c *Client) Run(ctx context.Context, argv []string) (Result, error) {
	return c.Exec(ctx, Cmd{Argv: argv})
}

// Stream is Run with the command's output copied to stdout and stderr as it arrives. The
// returned Result holds the last 64 KiB of each.
func (c *Client) Stream(ctx context.Context, argv []string, stdout, stderr io.Writer) (Result, error) {
	return c.Exec(ctx, Cmd{Argv: argv, Stdout: stdout, Stderr: stderr})
}

// Exec runs cmd as Run does, with its standard input and output wired as cmd says. The
// returned Result holds the last 64 KiB of stdout and stderr.
func (c *Client) Exec(ctx context.Context, cmd Cmd) (Result, error) {
	argv := cmd.Argv
	if len(argv) == 0 {
		return Result{}, errors.New("ssh run: empty command")
	}
	res := Result{Argv: argv}
	line := Quote(argv)
	if dl, ok := ctx.Deadline(); ok {
		secs := int(time.Until(dl).Seconds())
		if secs < 1 {
			return res, fmt.Errorf("ssh %s: run %s: %w", c.addr, argv[0], context.DeadlineExceeded)
		}
		line = "timeout --kill-after=5 " + strconv.Itoa(secs) + " " + line
	}
	sess, err := c.ssh.NewSession()
	if err != nil {
		return res, fmt.Errorf("ssh %s: open session: %w", c.addr, err)
	}
	defer sess.Close()
	outTail, errTail := &tailBuffer{max: 64 << 10}, &tailBuffer{max: 64 << 10}
	sess.Stdout = io.MultiWriter(outTail, orDiscard(cmd.Stdout))
	sess.Stderr = io.MultiWriter(errTail, orDiscard(cmd.Stderr))
	if cmd.Stdin != nil {
		sess.Stdin = cmd.Stdin
	}
	start := time.Now()
	if err := sess.Start(line); err != nil {
		return res, fmt.Errorf("ssh %s: start %s: %w", c.addr, argv[0], err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- sess.Wait() }()
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGTERM)
		_ = sess.Close()
		return res, fmt.Errorf("ssh %s: run %s: %w", c.addr, argv[0], ctx.Err())
	}
	res.Duration = time.Since(start)
	res.Stdout, res.Stderr = outTail.String(), errTail.String()
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitStatus = exitErr.ExitStatus()
	default:
		return res, fmt.Errorf("ssh %s: run %s: %w", c.addr, argv[0], err)
	}
	return res, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// Quote renders argv as one POSIX shell command line, each argument single-quoted unless
// it is made only of characters the shell never interprets.
func Quote(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = quoteArg(a)
	}
	return strings.Join(parts, " ")
}

func quoteArg(a string) string {
	if a == "" {
		return "''"
	}
	safe := true
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}
