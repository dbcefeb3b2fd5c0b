package imagebuild

import (
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
)

// State-bag keys. Steps read and write the bag only through the getters below.
const (
	keyBuild    = "build"
	keyError    = "error" // multistep's convention
	keySource   = "source_image"
	keyKeypair  = "keypair"
	keyAccess   = "ssh_access"
	keyPackages = "packages"
	keyImageID  = "image_id"
	keyEntry    = "candidate"
	keyActive   = "active_entry"
)

// Server roles: the builder, the server booted from the new image to verify it, and the
// server booted from the active image to see whether anything changed.
const (
	roleBuilder = "builder"
	roleVerify  = "verify"
	roleProbe   = "probe"
)

func buildOf(s multistep.StateBag) *build { return s.Get(keyBuild).(*build) }

func stepError(s multistep.StateBag) error {
	if err, ok := s.GetOk(keyError); ok {
		return err.(error)
	}
	return nil
}

func getString(s multistep.StateBag, k string) string {
	if v, ok := s.GetOk(k); ok {
		return v.(string)
	}
	return ""
}

func sourceImage(s multistep.StateBag) openstack.Image { return s.Get(keySource).(openstack.Image) }

func keypairName(s multistep.StateBag) string { return getString(s, keyKeypair) }

// access logs in to this build's servers with the build's key, host keys verified
// against their consoles.
func access(s multistep.StateBag) *remote.Access { return s.Get(keyAccess).(*remote.Access) }

func serverKey(role string) string { return "server/" + role }

// server returns the server of role, ok false when none was created.
func server(s multistep.StateBag, role string) (openstack.Server, bool) {
	v, ok := s.GetOk(serverKey(role))
	if !ok {
		return openstack.Server{}, false
	}
	return v.(openstack.Server), true
}

func connKey(role string) string { return "ssh/" + role }

func conn(s multistep.StateBag, role string) *remote.Client {
	return s.Get(connKey(role)).(*remote.Client)
}

func packages(s multistep.StateBag) []debian.Package {
	if v, ok := s.GetOk(keyPackages); ok {
		return v.([]debian.Package)
	}
	return nil
}

func imageID(s multistep.StateBag) string { return getString(s, keyImageID) }

func candidate(s multistep.StateBag) (catalog.Entry, bool) {
	v, ok := s.GetOk(keyEntry)
	if !ok {
		return catalog.Entry{}, false
	}
	return v.(catalog.Entry), true
}

// active is the family's active entry when the build started, ok false when it has none.
func active(s multistep.StateBag) (catalog.Entry, bool) {
	v, ok := s.GetOk(keyActive)
	if !ok {
		return catalog.Entry{}, false
	}
	return v.(catalog.Entry), true
}

// bootImage is the image a server of role boots from.
func bootImage(s multistep.StateBag, role string) string {
	switch role {
	case roleVerify:
		return imageID(s)
	case roleProbe:
		e, _ := active(s)
		return e.Image.ID
	}
	return sourceImage(s).ID
}
