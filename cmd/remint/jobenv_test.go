package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/orchestrator"
)

// The daemon's schedules map every action to a job kind: an inplace schedule carries its
// options to the inplace kind, which accepts them.
func TestSchedulesMapActionsToKinds(t *testing.T) {
	m, err := loadManifest("../../examples/remint.yaml")
	require.NoError(t, err)
	e := &jobEnv{m: m}
	scheds, err := e.schedules()
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, s := range scheds {
		kinds[s.Name] = s.Kind
		if s.Name == "weekly-db" {
			var o orchestrator.InPlaceOptions
			require.NoError(t, json.Unmarshal(s.Options, &o))
			// A schedule's action inplace asks for in place on purpose: forced past the policy.
			require.Equal(t, orchestrator.InPlaceOptions{Options: orchestrator.Options{ApplySecurityUpgrades: true, RebootIfRequired: true}, Force: true}, o)
			require.NoError(t, e.registry()[s.Kind].Check(s.Target, s.Options))
		}
	}
	require.Equal(t, map[string]string{"monthly-images": orchestrator.KindBuildImage, "weekend-web": orchestrator.KindRebuild, "weekly-db": orchestrator.KindInPlace}, kinds)
}
