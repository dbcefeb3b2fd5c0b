package main

import (
	"os"
	"path/filepath"
	"strings"
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

// A verification boot runs the family's own check first, then those of its groups.
func TestFamilyChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/remint.yaml")
	if err != nil {
		t.Fatal(err)
	}
	with := strings.Replace(string(src), "    build_only_on_change: false\n",
		"    build_only_on_change: false\n    health:\n      tcp: {port: 22}\n", 1)
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"groups only", string(src), []string{"group db", "group web"}},
		{"family and groups", with, []string{"family debian-12", "group db", "group web"}},
	} {
		path := filepath.Join(dir, tc.name+".yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := loadManifest(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, c := range familyChecks(m, "debian-12") {
			got = append(got, c.From)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: checks %v, want %v", tc.name, got, tc.want)
		}
	}
}
