package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// packerManifest is the file Packer's manifest post-processor writes.
type packerManifest struct {
	Builds []struct {
		Name        string `json:"name"`
		BuilderType string `json:"builder_type"`
		BuildTime   int64  `json:"build_time"`
		ArtifactID  string `json:"artifact_id"`
		RunUUID     string `json:"packer_run_uuid"`
	} `json:"builds"`
	LastRunUUID string `json:"last_run_uuid"`
}

// ErrBadPackerManifest marks a Packer manifest remint cannot take an image from.
var ErrBadPackerManifest = errors.New("bad Packer manifest")

// PackerArtifact returns the Glance image id of the newest build in a Packer manifest
// (what the "manifest" post-processor writes): the last run's (last_run_uuid), else the
// newest by build_time. It must be an "openstack" builder's. Every problem is an error
// matching ErrBadPackerManifest whose message says what is wrong.
func PackerArtifact(raw []byte) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", &lookupError{msg: fmt.Sprintf(format, args...), kind: ErrBadPackerManifest}
	}
	var m packerManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return bad("not a Packer manifest: %v", err)
	}
	if len(m.Builds) == 0 {
		return bad("the manifest lists no builds")
	}
	newest := -1
	for i, b := range m.Builds {
		if m.LastRunUUID != "" && b.RunUUID == m.LastRunUUID {
			newest = i // the last one of the last run wins
		}
	}
	if newest < 0 {
		for i, b := range m.Builds {
			if newest < 0 || b.BuildTime >= m.Builds[newest].BuildTime {
				newest = i
			}
		}
	}
	b := m.Builds[newest]
	if b.BuilderType != "openstack" {
		return bad("the newest build %q was made by the %q builder; remint registers images of the \"openstack\" builder (its artifact_id is a Glance image id)", b.Name, b.BuilderType)
	}
	if strings.TrimSpace(b.ArtifactID) == "" {
		return bad("the newest build %q has no artifact_id", b.Name)
	}
	return b.ArtifactID, nil
}
