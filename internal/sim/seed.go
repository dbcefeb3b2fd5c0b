package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// Names of the seeded resources; examples/remint.yaml refers to them.
const (
	SeedImageName        = "debian-12"
	SeedPrivateNetwork   = "private"
	SeedPublicNetwork    = "public"
	SeedKeypairName      = "remint"
	SeedRouterName       = "router1"
	DefaultCloudName     = "remint-sim"
	seedPrivateSubnet    = "private-subnet"
	seedPublicSubnet     = "public-subnet"
	DefaultSecurityGroup = "default"
)

// SeedResult tells what Seed created.
type SeedResult struct {
	ImageID          string
	PrivateNetworkID string
	PublicNetworkID  string
	// KeypairPrivateKey is the OpenSSH PEM private key of the seeded keypair "remint".
	KeypairPrivateKey []byte
}

// Seed creates what a fresh project needs to run examples/remint.yaml: the debian-12 base
// image, flavors m1.tiny/m1.small/m1.medium, a private network with a subnet, an external
// network "public" with a floating-IP pool and a router, and the keypair "remint".
func (s *Sim) Seed(ctx context.Context) (*SeedResult, error) {
	ref, err := s.driver.SeedImage(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: prepare base image %s with the %s driver: %w", SeedImageName, s.driver.Name(), err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seed: generate keypair: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("seed: keypair: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "remint-sim seed key")
	if err != nil {
		return nil, fmt.Errorf("seed: keypair: %w", err)
	}
	privateNet, publicNet := s.driver.AddressPlan()

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	for _, f := range []*Flavor{
		{ID: "1", Name: "m1.tiny", VCPUs: 1, RAM: 512, Disk: 1},
		{ID: "2", Name: "m1.small", VCPUs: 1, RAM: 2048, Disk: 20},
		{ID: "3", Name: "m1.medium", VCPUs: 2, RAM: 4096, Disk: 40},
	} {
		f.IsPublic, f.RxTxFactor = true, 1.0
		s.st.flavors[f.ID] = f
	}
	img := &Image{
		ID: newUUID(), Name: SeedImageName, Status: "active", Visibility: "public",
		Owner: s.ident.projectID, ContainerFormat: "bare", DiskFormat: "qcow2",
		Size: 1 << 20, Tags: []string{}, Created: now, Updated: now, DriverRef: ref,
		Properties: map[string]string{"os_distro": "debian", "os_version": "12"},
	}
	s.st.images[img.ID] = img

	pn := &Network{ID: newUUID(), Name: SeedPrivateNetwork, ProjectID: s.ident.projectID,
		AdminStateUp: true, Status: "ACTIVE", MTU: 1450, RevisionNumber: 1, Created: now, Updated: now}
	s.st.networks[pn.ID] = pn
	s.addSubnetLocked(pn, seedPrivateSubnet, privateNet)

	xn := &Network{ID: newUUID(), Name: SeedPublicNetwork, ProjectID: s.ident.projectID,
		AdminStateUp: true, Status: "ACTIVE", External: true, Shared: false, MTU: 1500,
		RevisionNumber: 1, Created: now, Updated: now}
	s.st.networks[xn.ID] = xn
	s.addSubnetLocked(xn, seedPublicSubnet, publicNet)

	rt := &Router{ID: newUUID(), Name: SeedRouterName, ProjectID: s.ident.projectID, NetworkID: xn.ID}
	s.st.routers[rt.ID] = rt

	s.st.keypairs[SeedKeypairName] = &Keypair{
		Name: SeedKeypairName, PublicKey: string(ssh.MarshalAuthorizedKey(sshPub)),
		Fingerprint: ssh.FingerprintLegacyMD5(sshPub), Type: "ssh", UserID: s.ident.userID, Created: now,
	}
	return &SeedResult{
		ImageID: img.ID, PrivateNetworkID: pn.ID, PublicNetworkID: xn.ID,
		KeypairPrivateKey: pem.EncodeToMemory(block),
	}, nil
}

// CloudsYAML returns a clouds.yaml document with one cloud, named name (DefaultCloudName
// when empty), that any OpenStack client can use to reach this simulator.
func (s *Sim) CloudsYAML(name string) []byte {
	if name == "" {
		name = DefaultCloudName
	}
	return []byte(fmt.Sprintf(`# Written by remint sim: an OpenStack-API-compatible simulator on loopback.
clouds:
  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_name: %s
      user_domain_name: Default
      project_domain_name: Default
    region_name: %s
    interface: public
    identity_api_version: 3
`, name, s.AuthURL(), s.cfg.Username, s.cfg.Password, s.cfg.ProjectName, s.cfg.Region))
}
