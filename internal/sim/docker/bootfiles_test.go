package docker

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/workload"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostname(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"web-0", "web-0"},
		{"Web Server_1.example", "web-server-1-example"},
		{"--ünïcode--", "ncode"},
		{"", "server"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{strings.Repeat("a", 62) + "-b", strings.Repeat("a", 62)},
	}
	for _, tt := range tests {
		if got := hostname(tt.name); got != tt.want {
			t.Errorf("hostname(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAuthorizedKeys(t *testing.T) {
	t.Parallel()
	const k1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA one"
	const k2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBB two"
	tests := []struct {
		name     string
		keypair  string
		userData string
		want     string
		wantErr  bool
	}{
		{name: "none"},
		{name: "keypair only", keypair: k1 + "\n", want: k1 + "\n"},
		{name: "cloud-config adds", keypair: k1, userData: "#cloud-config\nssh_authorized_keys:\n  - " + k2 + "\n", want: k1 + "\n" + k2 + "\n"},
		{name: "cloud-config only", userData: "#cloud-config\nssh_authorized_keys: ['" + k2 + "']\n", want: k2 + "\n"},
		{name: "shell script ignored", keypair: k1, userData: "#!/bin/sh\n# ssh_authorized_keys:\necho hi\n", want: k1 + "\n"},
		{name: "bad cloud-config", userData: "#cloud-config\nssh_authorized_keys: [unclosed\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := authorizedKeys(tt.keypair, []byte(tt.userData))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAptFiles(t *testing.T) {
	t.Parallel()
	const url = "http://10.231.0.1:4000/debian"
	armored := []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n")
	binary := []byte{0x99, 0x01, 0x8d}
	tests := []struct {
		name      string
		url       string
		key       []byte
		wantPaths []string
		wantTrust string
	}{
		{name: "no repository"},
		{name: "unsigned", url: url, wantPaths: []string{aptSourcesPath}, wantTrust: "Trusted: yes"},
		{name: "armored key", url: url, key: armored, wantPaths: []string{aptKeyPathArmored, aptSourcesPath}, wantTrust: "Signed-By: " + aptKeyPathArmored},
		{name: "binary key", url: url, key: binary, wantPaths: []string{aptKeyPathBinary, aptSourcesPath}, wantTrust: "Signed-By: " + aptKeyPathBinary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := aptFiles(tt.url, tt.key)
			var paths []string
			for _, f := range files {
				paths = append(paths, f.path)
			}
			assert.Equal(t, tt.wantPaths, paths)
			if tt.url == "" {
				return
			}
			src := string(files[len(files)-1].data)
			assert.Contains(t, src, "URIs: "+url+"\n")
			assert.Contains(t, src, "Suites: bookworm bookworm-updates bookworm-security\n")
			assert.Contains(t, src, tt.wantTrust+"\n")
			if len(tt.key) > 0 {
				assert.Equal(t, tt.key, files[0].data)
			}
		})
	}
}

func TestBootFiles(t *testing.T) {
	t.Parallel()
	spec := sim.BootSpec{
		ServerID: "11111111-2222-3333-4444-555555555555", Name: "web-0",
		ImageID: "img-1", ImageName: "debian-12", ImageProps: map[string]string{workload.KeyVersion: "2026.11.1"},
		PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA k",
		UserData:  []byte("#!/bin/sh\nremint_workload_health=unhealthy\n"),
	}
	files, err := bootFiles(spec, "web-0", 8080, "http://10.231.0.1:1/debian", nil)
	require.NoError(t, err)
	byPath := map[string]file{}
	for _, f := range files {
		byPath[f.path] = f
	}
	assert.Equal(t, spec.ServerID+"\n", string(byPath[instanceIDPath].data))
	assert.Equal(t, spec.PublicKey+"\n", string(byPath[authorizedKeysPath].data))
	assert.Equal(t, int64(0o600), byPath[authorizedKeysPath].mode)
	assert.Equal(t, spec.UserData, byPath[userDataPath].data)
	assert.Equal(t, "/usr/local/bin/remint-workload\x00workload\x00--listen\x00:8080\x00--info-file\x00/etc/remint/workload.json\x00",
		string(byPath[workloadArgvPath].data))
	var cfg workload.Config
	require.NoError(t, json.Unmarshal(byPath[workloadInfoPath].data, &cfg))
	assert.Equal(t, workload.Info{ServerID: spec.ServerID, ServerName: "web-0", ImageID: "img-1", ImageName: "debian-12",
		ImageVersion: "2026.11.1", Hostname: "web-0"}, cfg.Info)
	assert.True(t, cfg.Unhealthy, "user data asked for an unhealthy workload")
	assert.Contains(t, byPath, aptSourcesPath)

	// A typo in a workload setting fails the boot instead of being ignored.
	spec.Metadata = map[string]string{workload.KeyHealth: "sickly"}
	_, err = bootFiles(spec, "web-0", 8080, "", nil)
	require.Error(t, err)
}

func TestTarFiles(t *testing.T) {
	t.Parallel()
	buf, err := tarFiles([]file{{"/etc/remint/instance-id", 0o644, []byte("x\n")}, {"/var/lib/cloud/instance/user-data.txt", 0o600, nil}}, time.Unix(0, 0))
	require.NoError(t, err)
	tr := tar.NewReader(buf)
	var got []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, hdr.Name)
		assert.Equal(t, byte(tar.TypeReg), hdr.Typeflag)
	}
	assert.Equal(t, []string{"etc/remint/instance-id", "var/lib/cloud/instance/user-data.txt"}, got)
}
