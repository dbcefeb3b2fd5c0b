package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// Which cloud a command connected to is a debug line: every command would print it
// otherwise. -v shows it, whatever --log-level says.
func TestConnectLineShowsOnlyWithVerbose(t *testing.T) {
	simclient.Start(t, simclient.Options{Sim: sim.Config{BootTime: 10 * time.Millisecond}, SetEnv: true})
	mf := filepath.Join(t.TempDir(), "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(`cloud: remint-sim
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
`), 0o644))

	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-v"}, true},
		{[]string{"--verbose", "--log-level", "error"}, true},
		{[]string{"--log-level", "debug"}, true},
	} {
		args := append([]string{"image", "list", "debian-12", "-f", mf}, tt.args...)
		_, errOut, err := validateRun(t, args...)
		require.NoError(t, err, errOut)
		if tt.want {
			assert.Contains(t, errOut, "connected to OpenStack", "%v", tt.args)
			assert.Contains(t, errOut, "level=DEBUG", "%v", tt.args)
		} else {
			assert.NotContains(t, errOut, "connected to OpenStack", "%v", tt.args)
		}
	}
}
