package sim

import (
	"net/netip"
	"time"
)

// The resource types below are the simulator's source of truth. Each service renders them
// to its own JSON shapes in its own files. Every field is guarded by Sim.mu.

// Server is a Nova server.
type Server struct {
	ID        string
	Name      string
	ProjectID string
	UserID    string
	ImageID   string
	FlavorID  string
	KeyName   string
	// Status is BUILD, ACTIVE, REBOOT, HARD_REBOOT, ERROR, DELETED (as Nova reports it).
	Status         string
	TaskState      string // "" or spawning, rebooting, image_snapshot, deleting…
	PowerState     int    // 0 NOSTATE, 1 RUNNING, 4 SHUTDOWN
	VMState        string // building, active, error
	Fault          *Fault // set in ERROR
	Metadata       map[string]string
	Tags           []string
	UserData       []byte
	SecurityGroups []string
	// Networks the server was asked to attach, in order; each gets a port.
	NetworkIDs []string
	Created    time.Time
	Updated    time.Time
	Launched   time.Time
	Terminated time.Time // set on the tombstone of a deleted server
	HostID     string
	// DriverErr is why the driver failed to boot the server.
	DriverErr string
}

// Fault is a Nova server fault.
type Fault struct {
	Code    int
	Message string
	Details string
	Created time.Time
}

// Flavor is a Nova flavor.
type Flavor struct {
	ID         string
	Name       string
	VCPUs      int
	RAM        int // MiB
	Disk       int // GiB
	Ephemeral  int
	Swap       int
	IsPublic   bool
	RxTxFactor float64
}

// Keypair is a Nova keypair.
type Keypair struct {
	Name        string
	PublicKey   string
	Fingerprint string
	Type        string // ssh or x509
	UserID      string
	Created     time.Time
}

// Image is a Glance image. Custom properties are top-level keys in Glance's JSON.
type Image struct {
	ID              string
	Name            string
	Status          string // queued, saving, active, deactivated, killed, deleted, importing
	Visibility      string // public, private, shared, community
	Protected       bool
	Hidden          bool // os_hidden
	Owner           string
	ContainerFormat string
	DiskFormat      string
	MinDisk         int
	MinRAM          int
	Size            int64
	Checksum        string
	MultihashAlgo   string
	Multihash       string
	Tags            []string
	Properties      map[string]string
	Created         time.Time
	Updated         time.Time
	// DriverRef is how the driver finds the image's bits (a Docker image tag for the docker
	// driver); never shown through the API.
	DriverRef string
	// Data is uploaded image data (kept only when small) for round-trip tests.
	Data []byte
}

// Network is a Neutron network.
type Network struct {
	ID             string
	Name           string
	ProjectID      string
	AdminStateUp   bool
	Status         string
	Shared         bool
	External       bool // router:external
	MTU            int
	SubnetIDs      []string
	RevisionNumber int
	Created        time.Time
	Updated        time.Time
}

// Subnet is a Neutron subnet with its own address pool.
type Subnet struct {
	ID             string
	Name           string
	NetworkID      string
	ProjectID      string
	CIDR           netip.Prefix
	GatewayIP      netip.Addr
	IPVersion      int
	EnableDHCP     bool
	RevisionNumber int
	Created        time.Time
	Updated        time.Time
	pool           *ipPool
}

// Port is a Neutron port.
type Port struct {
	ID             string
	Name           string
	NetworkID      string
	ProjectID      string
	MACAddress     string
	FixedIPs       []FixedIP
	DeviceID       string
	DeviceOwner    string // compute:nova for server ports
	Status         string // ACTIVE, DOWN
	AdminStateUp   bool
	SecurityGroups []string
	RevisionNumber int
	Created        time.Time
	Updated        time.Time
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string
	IPAddress string
}

// FloatingIP is a Neutron floating IP.
type FloatingIP struct {
	ID                string
	FloatingIP        string
	FloatingNetworkID string
	ProjectID         string
	PortID            string // "" when not associated
	FixedIP           string // "" when not associated
	RouterID          string // "" when not associated
	Status            string // ACTIVE when associated, DOWN otherwise
	Description       string
	Tags              []string
	RevisionNumber    int
	Created           time.Time
	Updated           time.Time
}

// Router is a Neutron router; floating IPs are associated through the project's router.
type Router struct {
	ID        string
	Name      string
	ProjectID string
	NetworkID string // external gateway network
}

// Limits are the project's compute quotas, as reported by GET /limits.
type Limits struct {
	MaxInstances        int
	MaxCores            int
	MaxRAM              int // MiB
	MaxKeypairs         int
	MaxImageMeta        int
	MaxPersonality      int
	MaxSecurityGroups   int
	MaxServerGroups     int
	MaxServerMeta       int
	MaxTotalFloatingIps int
}

// state is every resource of the simulated cloud.
type state struct {
	flavors  map[string]*Flavor
	keypairs map[string]*Keypair
	servers  map[string]*Server
	// deletedServers are tombstones of deleted servers (status DELETED), kept for a while
	// because Nova's changes-since lists recently deleted servers.
	deletedServers map[string]*Server
	images         map[string]*Image
	networks       map[string]*Network
	subnets        map[string]*Subnet
	ports          map[string]*Port
	fips           map[string]*FloatingIP
	routers        map[string]*Router
	limits         Limits
}

func newState() *state {
	return &state{
		flavors:        map[string]*Flavor{},
		keypairs:       map[string]*Keypair{},
		servers:        map[string]*Server{},
		deletedServers: map[string]*Server{},
		images:         map[string]*Image{},
		networks:       map[string]*Network{},
		subnets:        map[string]*Subnet{},
		ports:          map[string]*Port{},
		fips:           map[string]*FloatingIP{},
		routers:        map[string]*Router{},
		limits: Limits{
			MaxInstances: 500, MaxCores: 2000, MaxRAM: 4 << 20, MaxKeypairs: 100,
			MaxImageMeta: 128, MaxPersonality: 5, MaxSecurityGroups: 10, MaxServerGroups: 10,
			MaxServerMeta: 128, MaxTotalFloatingIps: 100,
		},
	}
}
