package failover

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
)

func TestSpecFromExampleManifest(t *testing.T) {
	t.Parallel()
	m, err := manifest.Load("../examples/remint.yaml")
	require.NoError(t, err)
	s, err := SpecFromGroup(m.Groups["web"])
	require.NoError(t, err)
	require.Equal(t, 3, s.Count)
	require.Equal(t, StrategyRolling, s.Strategy)
	require.Equal(t, 1, s.MaxSurge)
	require.Equal(t, 0, s.MaxUnavailable)
	require.Len(t, s.Addresses, 3, "one allocate_from entry expands to one address per slot")
	require.Equal(t, "public", s.Addresses[2].AllocateFrom)
	require.Equal(t, 3, s.Health.HealthyThreshold)
	require.NotNil(t, s.Health.Check.HTTP)
	require.Equal(t, "/healthz", s.Health.Check.HTTP.Path)

	_, err = SpecFromGroup(m.Groups["db"])
	require.ErrorContains(t, err, "not replaceable")
}
