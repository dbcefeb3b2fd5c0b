package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
)

// timestamps are RFC 3339 times in JSON output.
var timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// candidate snapshots the builder as debian-12's next version, a candidate whose
// verification failed for reason; it returns the version and the image id.
func (w *world) candidate(name, reason string) (string, string) {
	w.t.Helper()
	ctx := w.t.Context()
	id, err := w.os.CreateServerImage(ctx, w.builder, name, nil)
	require.NoError(w.t, err)
	_, err = w.os.WaitImageActive(ctx, id)
	require.NoError(w.t, err)
	e, err := w.cat.AddCandidate(ctx, "debian-12", id, catalog.Build{ID: name, BuiltAt: time.Now()}, time.Now())
	require.NoError(w.t, err)
	_, err = w.cat.MarkVerification(ctx, id, false, reason, time.Now())
	require.NoError(w.t, err)
	return e.Version.String(), id
}

// `remint image promote` with the real binary, locally and through a real `remint
// serve`: the same output (text and JSON) for two candidates in the same state, the
// catalog changed the same way, and the same refusal (exit 2) of a version that is not a
// candidate; a read-only token cannot promote.
func TestImagePromoteThroughDaemonAsLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary against the simulator")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 200*time.Millisecond)
	first := w.register("debian-12-a")
	_, url := w.startServe(nil)

	// Normalizes one promotion's output: its version and image id, and the previous
	// active version it deprecated.
	same := func(out, version, id, name string, previous catalog.Entry) string {
		return strings.NewReplacer(version, "VERSION", id, "IMAGE", name, "NAME",
			previous.Version.String(), "PREVIOUS", previous.Image.ID, "PREVIOUS-IMAGE").Replace(out)
	}
	var outputs [2]string
	prev, err := w.cat.Latest(t.Context(), "debian-12")
	require.NoError(t, err)
	for i, where := range [][]string{nil, {"--server", url}} {
		name := "debian-12-c" + string(rune('0'+i))
		v, id := w.candidate(name, "ssh timed out")
		p := w.start(w.tokenEnv(), append([]string{"image", "promote", "debian-12", v}, where...)...)
		require.Equal(t, 0, p.wait(t), "%s", p)
		require.Contains(t, p.stdout.String(), "debian-12 "+v+" promoted on the operator's word (its verification had failed: ssh timed out)", "%s", p)
		outputs[i] = same(p.stdout.String(), v, id, name, prev)
		e, err := w.cat.Latest(t.Context(), "debian-12")
		require.NoError(t, err)
		require.Equal(t, v, e.Version.String(), "the promoted version is latest")
		require.Equal(t, catalog.VerificationOperator, e.Image.Properties[catalog.PropVerification])
		prev = e
	}
	require.Equal(t, outputs[0], outputs[1])

	// JSON: the same document, but for the version, image and times.
	for i, where := range [][]string{nil, {"--server", url}} {
		name := "debian-12-j" + string(rune('0'+i))
		v, id := w.candidate(name, "ssh timed out")
		p := w.start(w.tokenEnv(), append([]string{"image", "promote", "debian-12", v, "--output", "json"}, where...)...)
		require.Equal(t, 0, p.wait(t), "%s", p)
		out := same(p.stdout.String(), v, id, name, prev)
		outputs[i] = timestamps.ReplaceAllString(out, "TIME")
		prev, err = w.cat.Latest(t.Context(), "debian-12")
		require.NoError(t, err)
	}
	require.JSONEq(t, outputs[0], outputs[1])

	// A version that is not a candidate: exit 2, the local reason.
	local := w.start(w.tokenEnv(), "image", "promote", "debian-12", first)
	require.Equal(t, 2, local.wait(t), "%s", local)
	remote := w.start(w.tokenEnv(), "image", "promote", "debian-12", first, "--server", url)
	require.Equal(t, 2, remote.wait(t), "%s", remote)
	msg := strings.TrimPrefix(strings.TrimSpace(local.stderr.String()), "remint: ")
	require.Equal(t, "promote debian-12 "+first+": it is deprecated; only a candidate can be promoted", msg)
	require.Contains(t, remote.stderr.String(), msg)
	unknown := w.start(w.tokenEnv(), "image", "promote", "debian-12", "2099.01.1", "--server", url)
	require.Equal(t, 2, unknown.wait(t), "%s", unknown)
	require.Contains(t, unknown.stderr.String(), "family debian-12 has no version 2099.01.1")

	// A write: a read-only token is refused.
	ro := w.start(nil, "token", "create", "--name", "viewer", "--read-only", "--output", "secret")
	require.Equal(t, 0, ro.wait(t), "%s", ro)
	v, _ := w.candidate("debian-12-ro", "ssh timed out")
	refused := w.start([]string{"REMINT_TOKEN=" + strings.TrimSpace(ro.stdout.String())}, "image", "promote", "debian-12", v, "--server", url)
	require.Equal(t, 1, refused.wait(t), "%s", refused)
	e, err := w.cat.Latest(t.Context(), "debian-12")
	require.NoError(t, err)
	require.NotEqual(t, v, e.Version.String(), "not promoted")
	require.Contains(t, refused.stderr.String(), "read-only")
}
