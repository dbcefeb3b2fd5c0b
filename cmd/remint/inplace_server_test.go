package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// `remint inplace --server` queues an inplace job on a running daemon, follows its
// events to the end and exits as the local command does: 1 when the run failed, 2 for
// bad input (nothing queued), refusing the flags the daemon's job decides by itself.
func TestInplaceThroughServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary against the simulator")
	}
	remintBinary(t)
	w := startWorld(t, deployManifest, 0)
	w.register("debian-12-a")
	_, url := w.startServe(nil)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nope", "--reboot", "never"}, `group "nope" is not in the manifest`},
		{[]string{"db"}, "give --reboot never, if-required or always"},
		{[]string{"db", "--reboot", "sometimes"}, "--reboot"},
		{[]string{"--servers", "db-1", "--reboot", "never"}, "--servers and --server"},
		{[]string{"db", "--reboot", "never", "--dry-run", "--wait-lock", "1m"}, "--dry-run, --wait-lock and --server"},
		{[]string{"db", "--reboot", "never", "-i", "/nonexistent"}, "--identity and --server"},
	} {
		p := w.start(w.tokenEnv(), append(append([]string{"inplace"}, c.args...), "--server", url)...)
		require.Equal(t, 2, p.wait(t), "%v: %s", c.args, p)
		require.Contains(t, p.stderr.String(), c.want, "%v", c.args)
	}
	// The daemon's URL from $REMINT_SERVER (as the demo exports it): the refusal says where
	// --server came from and how to run locally; --server '' then plans locally.
	env := append(w.tokenEnv(), "REMINT_SERVER="+url)
	p := w.start(env, "inplace", "db", "--dry-run")
	require.Equal(t, 2, p.wait(t), "%s", p)
	require.Contains(t, p.stderr.String(), "--dry-run and --server")
	require.Contains(t, p.stderr.String(), "--server came from $REMINT_SERVER ("+url+"): add --server '' to run the command locally")
	p = w.start(w.tokenEnv(), "inplace", "db", "--dry-run", "--server", url)
	require.Equal(t, 2, p.wait(t), "%s", p)
	require.NotContains(t, p.stderr.String(), "came from $REMINT_SERVER", "--server was given")
	p = w.start(env, "inplace", "db", "--dry-run", "--server", "")
	p.wait(t)
	require.NotContains(t, p.stderr.String(), "and --server", "planned locally: %s", p)

	jobs := w.start(w.tokenEnv(), "job", "list", "--server", url)
	require.Equal(t, 0, jobs.wait(t), "%s", jobs)
	require.NotContains(t, jobs.stdout.String(), "inplace", "bad input queues nothing")

	// db has no servers yet: the job runs and fails, and so does the command.
	p = w.start(w.tokenEnv(), "inplace", "db", "--security", "--reboot", "if-required", "--server", url)
	require.Equal(t, 1, p.wait(t), "%s", p)
	out := p.stdout.String()
	t.Logf("remint inplace db --security --reboot if-required --server URL:\n%s\n%s", out, p.stderr)
	require.Regexp(t, `job \d+: inplace db queued on http://\S+`, out)
	require.Contains(t, out, "in-place db: requested by token admin (security upgrades, reboot if-required)", "the job's events are printed as they come")
	require.Regexp(t, `job \d+: inplace db failed`, out)
}
