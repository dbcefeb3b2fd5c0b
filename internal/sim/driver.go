package sim

import (
	"context"
	"net/netip"
)

// Driver runs the servers of the simulated cloud, as a Nova virt driver does.
// All methods may be called concurrently for different servers; the simulator never holds
// its state lock while calling a driver.
type Driver interface {
	// Name is the driver's name as given to --driver ("loopback", "docker").
	Name() string
	// AddressPlan returns the CIDR of the seeded tenant network (fixed IPs are allocated from
	// it and handed to Boot) and of the floating-IP pool of the seeded external network.
	AddressPlan() (private, public netip.Prefix)
	// SeedImage returns the driver reference of the seeded base image ("debian-12"),
	// preparing it if needed (the docker driver builds it on first use).
	SeedImage(ctx context.Context) (ref string, err error)
	// Boot starts the server described by spec and returns when its workload has been
	// started (the simulator then reports ACTIVE) or failed (ERROR).
	Boot(ctx context.Context, spec BootSpec) error
	// Delete stops the server and frees everything it holds. Deleting an unknown server is
	// not an error. In-flight requests to the server are allowed to finish.
	Delete(ctx context.Context, serverID string) error
	// Reboot restarts the server's processes as a reboot would; disk persists.
	Reboot(ctx context.Context, serverID string, hard bool) error
	// Snapshot captures the server's disk as a new image and returns its driver reference.
	Snapshot(ctx context.Context, serverID, imageID string) (ref string, err error)
	// ConsoleLog returns the server's boot output so far.
	ConsoleLog(ctx context.Context, serverID string) (string, error)
	// SetFloatingIP makes floating address fip (allocated from the public plan) forward to
	// fixedIP; fixedIP "" detaches it (connections to it are then refused or dropped).
	// New connections go to the new target at once; established ones may finish.
	SetFloatingIP(ctx context.Context, fip, fixedIP string) error
	// ReleaseFloatingIP stops serving fip altogether.
	ReleaseFloatingIP(ctx context.Context, fip string) error
	// Close stops every server and listener the driver started.
	Close() error
}

// BootSpec is everything a driver needs to start one server.
type BootSpec struct {
	ServerID string
	Name     string
	// Image is the Glance image the server boots from.
	ImageID    string
	ImageName  string
	ImageRef   string            // the driver reference recorded on the image (Image.DriverRef)
	ImageProps map[string]string // the image's custom properties (e.g. remint_version)
	// FixedIP is the address allocated on the server's network; "" when it has none.
	FixedIP   string
	KeyName   string
	PublicKey string // the keypair's OpenSSH public key, "" when no key_name was given
	UserData  []byte // decoded user data
	Metadata  map[string]string
}

// nopDriver is used when no driver is configured: servers exist only as API objects.
type nopDriver struct{}

func (nopDriver) Name() string { return "none" }
func (nopDriver) AddressPlan() (netip.Prefix, netip.Prefix) {
	return netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("172.24.4.0/24")
}
func (nopDriver) SeedImage(context.Context) (string, error)                { return "", nil }
func (nopDriver) Boot(context.Context, BootSpec) error                     { return nil }
func (nopDriver) Delete(context.Context, string) error                     { return nil }
func (nopDriver) Reboot(context.Context, string, bool) error               { return nil }
func (nopDriver) Snapshot(context.Context, string, string) (string, error) { return "", nil }
func (nopDriver) ConsoleLog(context.Context, string) (string, error)       { return "", nil }
func (nopDriver) SetFloatingIP(context.Context, string, string) error      { return nil }
func (nopDriver) ReleaseFloatingIP(context.Context, string) error          { return nil }
func (nopDriver) Close() error                                             { return nil }

// NopDriver returns a driver that runs nothing: servers are API objects only. Useful for
// API contract tests that need no workload.
func NopDriver() Driver { return nopDriver{} }
