package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackerArtifact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	tests := []struct {
		name, content, want, err string
	}{
		{"last run wins over a later build_time", `{"builds": [
			{"name": "openstack", "builder_type": "openstack", "build_time": 200, "artifact_id": "old", "packer_run_uuid": "r1"},
			{"name": "openstack", "builder_type": "openstack", "build_time": 100, "artifact_id": "new", "packer_run_uuid": "r2"}],
			"last_run_uuid": "r2"}`, "new", ""},
		{"newest build_time without last_run_uuid", `{"builds": [
			{"builder_type": "openstack", "build_time": 100, "artifact_id": "a"},
			{"builder_type": "openstack", "build_time": 300, "artifact_id": "b"},
			{"builder_type": "openstack", "build_time": 200, "artifact_id": "c"}]}`, "b", ""},
		{"no builds", `{"builds": [], "last_run_uuid": "r"}`, "", "lists no builds"},
		{"another builder", `{"builds": [{"name": "docker", "builder_type": "docker", "build_time": 1, "artifact_id": "sha256:1", "packer_run_uuid": "r"}], "last_run_uuid": "r"}`, "", `made by the "docker" builder`},
		{"no artifact", `{"builds": [{"name": "o", "builder_type": "openstack", "build_time": 1, "packer_run_uuid": "r"}], "last_run_uuid": "r"}`, "", "has no artifact_id"},
		{"not json", `builds:`, "", "not a Packer manifest"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := packerArtifact(write(string(rune('a'+i))+".json", tc.content))
			if tc.err != "" {
				requireUsage(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := packerArtifact(filepath.Join(dir, "missing.json"))
	requireUsage(t, err, "no such file")
}
