package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExecWithStdin(t *testing.T) {
	t.Parallel()
	client := newSigner(t)
	srv := startServer(t, client.PublicKey())
	c, err := Dial(context.Background(), Config{Addr: srv.addr, User: "root", Signer: client, HostKey: Fingerprints{fingerprint(srv.hostKey)}})
	require.NoError(t, err)
	defer c.Close()
	var out strings.Builder
	res, err := c.Exec(context.Background(), Cmd{Argv: []string{"tr", "a-z", "A-Z"}, Stdin: strings.NewReader("it's $HOME\n"), Stdout: &out})
	require.NoError(t, err)
	require.NoError(t, res.Err())
	require.Equal(t, "IT'S $HOME\n", out.String())
	require.Equal(t, "IT'S $HOME\n", res.Stdout)
}

// failingReader gives some bytes, then fails as a broken download would.
type failingReader struct{ sent bool }

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.sent {
		f.sent = true
		return copy(p, "half of a file"), nil
	}
	return 0, errors.New("connection reset by peer")
}

func TestUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A stand-in for sudo that records being used and runs the command.
	bin := t.TempDir()
	sudoLog := filepath.Join(t.TempDir(), "sudo.log")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "sudo"),
		[]byte("#!/bin/sh\n[ \"$1\" = -n ] || exit 9\nshift\necho \"$1\" >> \"$SUDO_LOG\"\nexec \"$@\"\n"), 0o755))
	client := newSigner(t)
	srv := startServer(t, client.PublicKey(), "PATH="+bin+":"+os.Getenv("PATH"), "SUDO_LOG="+sudoLog)
	c, err := Dial(ctx, Config{Addr: srv.addr, User: "root", Signer: client, HostKey: Fingerprints{fingerprint(srv.hostKey)}})
	require.NoError(t, err)
	defer c.Close()
	dir := t.TempDir()
	leftovers := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, "*.remint-upload-*"))
		require.NoError(t, err)
		return m
	}

	// A name the shell would love to interpret, with content that has no final newline.
	target := filepath.Join(dir, "it's a $(file) ;x")
	content := "#!/bin/sh\necho 'weave' \"$@\"\n\x00binary too"
	require.NoError(t, c.Upload(ctx, target, 0o750, strings.NewReader(content)))
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, content, string(got))
	fi, err := os.Stat(target)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o750), fi.Mode().Perm())
	require.Empty(t, leftovers())

	// Replacing it is atomic; a large file streams through.
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	require.NoError(t, c.Upload(ctx, target, 0o644, strings.NewReader(big)))
	got, err = os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, big, string(got))

	// A content reader that fails halfway: the old file stays, no half file is left.
	err = c.Upload(ctx, target, 0o644, &failingReader{})
	require.ErrorContains(t, err, "read the content: connection reset by peer")
	got, err = os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, big, string(got), "a failed upload leaves the file as it was")
	require.Empty(t, leftovers())

	// A directory that does not exist: a clear failure, nothing written.
	err = c.Upload(ctx, filepath.Join(dir, "missing", "f"), 0o644, strings.NewReader("x"))
	require.ErrorContains(t, err, "upload "+filepath.Join(dir, "missing", "f"))
	var exit *ExitError
	require.ErrorAs(t, err, &exit)

	require.ErrorContains(t, c.Upload(ctx, dir+"/", 0o644, strings.NewReader("x")), "is not a file path")
	require.ErrorContains(t, c.Upload(ctx, target, os.ModeSetuid|0o755, strings.NewReader("x")), "only permission bits")

	// WithSudo runs both steps through sudo -n.
	rootFile := filepath.Join(dir, "apt.conf")
	require.NoError(t, c.Upload(ctx, rootFile, 0o644, strings.NewReader("APT::Periodic::Unattended-Upgrade \"1\";\n"), WithSudo()))
	got, err = os.ReadFile(rootFile)
	require.NoError(t, err)
	require.Equal(t, "APT::Periodic::Unattended-Upgrade \"1\";\n", string(got))
	log, err := os.ReadFile(sudoLog)
	require.NoError(t, err)
	require.Equal(t, "sh\nsh\n", string(log), "both the write and the commit ran through sudo")
	require.Empty(t, leftovers())
}
