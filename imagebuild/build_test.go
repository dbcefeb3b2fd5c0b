package imagebuild

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPipelineShape checks the pipeline reads as documented: every step has a name, names
// are unique, and each step type lives in its own step_<verb>_<noun>.go file.
func TestPipelineShape(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, list := range [][]named{toNamed(pipeline()), toNamed(verifyPipeline()), toNamed(verifySteps()), toNamed(probeSteps())} {
		for _, s := range list {
			assert.NotEmpty(t, s.Name())
			typ := strings.TrimPrefix(fmt.Sprintf("%T", s), "*imagebuild.")
			if seen[typ] {
				continue
			}
			seen[typ] = true
			file := "step" + snake(strings.TrimPrefix(typ, "step")) + ".go"
			if typ == "stepListUpgrades" {
				file = "step_check_changes.go" // the probe's own step lives with its user
			}
			_, err := os.Stat(file)
			assert.NoError(t, err, "step %s lives in %s", typ, file)
		}
	}
	names := map[string]bool{}
	for _, s := range toNamed(pipeline()) {
		require.False(t, names[s.Name()], "step name %q twice", s.Name())
		names[s.Name()] = true
	}
}

func toNamed[S any](steps []S) []named {
	out := make([]named, len(steps))
	for i, s := range steps {
		out[i] = any(s).(named)
	}
	return out
}

// snake turns "RunServer" into "_run_server" and "WaitSSH" into "_wait_ssh".
func snake(s string) string {
	var b strings.Builder
	prevUpper := false
	for _, r := range s {
		upper := r >= 'A' && r <= 'Z'
		if upper && !prevUpper {
			b.WriteByte('_')
		}
		if upper {
			r += 'a' - 'A'
		}
		prevUpper = upper
		b.WriteRune(r)
	}
	return b.String()
}

func TestTailLines(t *testing.T) {
	t.Parallel()
	tl := newTailLines(3)
	_, _ = tl.Write([]byte("one\ntwo\r\nthr"))
	_, _ = tl.Write([]byte("ee\nfour\nfive"))
	assert.Equal(t, []string{"three", "four", "five"}, tl.lines()[1:])
	assert.Equal(t, []string{"two", "three", "four", "five"}, tl.lines())
}

func TestIsBuildKeypair(t *testing.T) {
	t.Parallel()
	assert.True(t, isBuildKeypair("remint-build-deb-0a1b2c3d", "deb"))
	assert.False(t, isBuildKeypair("remint-build-deb-kill-0a1b2c3d", "deb"), "another family's")
	assert.True(t, isBuildKeypair("remint-build-deb-kill-0a1b2c3d", "deb-kill"))
	assert.False(t, isBuildKeypair("remint-build-deb-0a1b2c3d-x", "deb"))
	assert.False(t, isBuildKeypair("remint", "deb"))
}
