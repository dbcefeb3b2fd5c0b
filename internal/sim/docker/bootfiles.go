package docker

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/baseimage"
	"github.com/remint-dev/remint/internal/sim/workload"
	"gopkg.in/yaml.v3"
)

// Paths of the per-boot inputs the base image's init script reads.
const (
	instanceIDPath     = "/etc/remint/instance-id"
	authorizedKeysPath = "/etc/remint/authorized_keys"
	workloadInfoPath   = "/etc/remint/workload.json"
	workloadArgvPath   = "/etc/remint/workload.argv"
	userDataPath       = "/var/lib/cloud/instance/user-data.txt"
	aptSourcesPath     = "/etc/apt/sources.list.d/remint-local.sources"
	aptKeyPathArmored  = "/usr/share/keyrings/remint-local.asc"
	aptKeyPathBinary   = "/usr/share/keyrings/remint-local.gpg"
)

// file is one file copied into a container before it starts.
type file struct {
	path string
	mode int64
	data []byte
}

// bootFiles are the files a server gets on its first boot: who it is, who may log in, what
// its workload serves, its user data, and the apt repository.
func bootFiles(spec sim.BootSpec, hostname string, workloadPort int, aptURL string, aptKey []byte) ([]file, error) {
	keys, err := authorizedKeys(spec.PublicKey, spec.UserData)
	if err != nil {
		return nil, fmt.Errorf("authorized keys of server %s: %w", spec.ServerID, err)
	}
	cfg, err := workload.ConfigFrom(workload.Info{
		ServerID: spec.ServerID, ServerName: spec.Name,
		ImageID: spec.ImageID, ImageName: spec.ImageName, Hostname: hostname,
	}, spec.ImageProps, spec.Metadata, spec.UserData)
	if err != nil {
		return nil, fmt.Errorf("workload of server %s: %w", spec.ServerID, err)
	}
	info, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("workload of server %s: %w", spec.ServerID, err)
	}
	argv := []string{baseimage.WorkloadPath, "workload",
		"--listen", ":" + strconv.Itoa(workloadPort), "--info-file", workloadInfoPath}
	files := []file{
		{instanceIDPath, 0o644, []byte(spec.ServerID + "\n")},
		{authorizedKeysPath, 0o600, []byte(keys)},
		{workloadInfoPath, 0o644, info},
		{workloadArgvPath, 0o644, []byte(strings.Join(argv, "\x00") + "\x00")},
		// Always written, so a server booted from a snapshot does not run its parent's.
		{userDataPath, 0o600, spec.UserData},
	}
	return append(files, aptFiles(aptURL, aptKey)...), nil
}

// aptFiles point apt at the local repository only, for every suite remint patches from.
func aptFiles(url string, key []byte) []file {
	if url == "" {
		return nil
	}
	var files []file
	trust := "Trusted: yes\n"
	if len(key) > 0 {
		keyPath := aptKeyPathBinary
		if bytes.HasPrefix(bytes.TrimSpace(key), []byte("-----BEGIN PGP")) {
			keyPath = aptKeyPathArmored // apt reads armored keys only from *.asc
		}
		trust = "Signed-By: " + keyPath + "\n"
		files = append(files, file{keyPath, 0o644, key})
	}
	src := "# Written by the remint simulator at every boot: the local repository only.\n" +
		"Types: deb\nURIs: " + url + "\nSuites: bookworm bookworm-updates bookworm-security\nComponents: main\n" + trust
	return append(files, file{aptSourcesPath, 0o644, []byte(src)})
}

// authorizedKeys joins the keypair's key and the ssh_authorized_keys of #cloud-config user
// data, one per line, as cloud-init would install them.
func authorizedKeys(keypair string, userData []byte) (string, error) {
	var keys []string
	if k := strings.TrimSpace(keypair); k != "" {
		keys = append(keys, k)
	}
	if bytes.HasPrefix(userData, []byte("#cloud-config")) {
		var cc struct {
			SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
		}
		if err := yaml.Unmarshal(userData, &cc); err != nil {
			return "", fmt.Errorf("parse #cloud-config user data: %w", err)
		}
		for _, k := range cc.SSHAuthorizedKeys {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return "", nil
	}
	return strings.Join(keys, "\n") + "\n", nil
}

// tarFiles archives files with absolute paths for CopyToContainer at "/". Parent directories
// are left out: existing ones keep their owner and mode, missing ones are created.
func tarFiles(files []file, now time.Time) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, Size: int64(len(f.data)),
			ModTime: now, Typeflag: tar.TypeReg, Uname: "root", Gname: "root",
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("archive %s: %w", f.path, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("archive %s: %w", f.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// hostname turns a server name into a hostname as Nova does: lower case, letters, digits
// and hyphens, at most 63 characters.
func hostname(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == ' ', r == '_', r == '.':
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	if h == "" {
		h = "server"
	}
	return h
}
