package workload

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		props     map[string]string
		metadata  map[string]string
		userData  string
		want      Config
		wantError string
	}{
		{name: "plain image", props: map[string]string{"os_distro": "debian"}, want: Config{}},
		{name: "version from image property",
			props: map[string]string{KeyVersion: "2026.11.2"},
			want:  Config{Info: Info{ImageVersion: "2026.11.2"}}},
		{name: "bad image",
			props: map[string]string{KeyHealth: "unhealthy", KeyStartDelay: "2s"},
			want:  Config{Unhealthy: true, StartDelay: 2 * time.Second}},
		{name: "metadata beats image",
			props:    map[string]string{KeyHealth: "unhealthy"},
			metadata: map[string]string{KeyHealth: "healthy"},
			want:     Config{}},
		{name: "cloud-config user data",
			userData: "#cloud-config\nremint_workload_health: Unhealthy\nruncmd: []\n",
			want:     Config{Unhealthy: true}},
		{name: "shell user data, commented",
			userData: "#!/bin/sh\r\n# remint_workload_start_delay=\"1500ms\"\r\necho hi\r\n",
			want:     Config{StartDelay: 1500 * time.Millisecond}},
		{name: "metadata beats user data",
			userData: "remint_workload_health: unhealthy\n",
			metadata: map[string]string{KeyHealth: "healthy"},
			want:     Config{}},
		{name: "user data beats image",
			props:    map[string]string{KeyStartDelay: "5s"},
			userData: "remint_workload_start_delay: 1s",
			want:     Config{StartDelay: time.Second}},
		{name: "typo in health", props: map[string]string{KeyHealth: "sick"},
			wantError: `image property remint_workload_health: "sick": want healthy or unhealthy`},
		{name: "negative delay", metadata: map[string]string{KeyStartDelay: "-1s"},
			wantError: `metadata remint_workload_start_delay: "-1s": must not be negative`},
		{name: "bad delay", metadata: map[string]string{KeyStartDelay: "soon"},
			wantError: `metadata remint_workload_start_delay: "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ConfigFrom(Info{}, tt.props, tt.metadata, []byte(tt.userData))
			if tt.wantError != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConfigFromKeepsGivenVersion(t *testing.T) {
	t.Parallel()
	got, err := ConfigFrom(Info{ServerID: "s", ImageVersion: "given"}, map[string]string{KeyVersion: "prop"}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, Info{ServerID: "s", ImageVersion: "given"}, got.Info)
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	c := Config{Info: testInfo, Unhealthy: true, StartDelay: 2500 * time.Millisecond}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, `{"server_id":"srv-1","server_name":"web 1","image_id":"img-1","image_name":"debian-12-remint",
		"image_version":"2026.11.1","hostname":"web-1","health":"unhealthy","start_delay":"2.5s"}`, string(b))
	got, err := ReadConfig(strings.NewReader(string(b)))
	require.NoError(t, err)
	assert.Equal(t, c, got)

	healthy, err := json.Marshal(Config{Info: Info{ServerID: "x"}})
	require.NoError(t, err)
	assert.NotContains(t, string(healthy), "health\"")
	assert.NotContains(t, string(healthy), "start_delay")

	for _, bad := range []string{
		`{"server_id":"x","helth":"unhealthy"}`,
		`{"server_id":"x","health":"meh"}`,
		`{"server_id":"x","start_delay":"later"}`,
		`not json`,
	} {
		_, err := ReadConfig(strings.NewReader(bad))
		assert.Error(t, err, bad)
	}
}
