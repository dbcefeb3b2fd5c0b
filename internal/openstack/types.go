// Package openstack is remint's adapter to OpenStack clouds and the only importer of
// gophercloud. Each method wraps one cloud call (or one wait), takes ctx first, retries
// what is worth retrying with go-retry, and returns errors classified by errors.go and
// wrapped with the operation and the resource.
//
// Domain packages declare the few methods they need as interfaces of their own; *Client
// satisfies them. The value types below are plain data shared with those packages.
//
// Entry point: Connect.
package openstack

import "time"

// Server is a Nova server as remint sees it.
type Server struct {
	ID      string
	Name    string
	Status  string // BUILD, ACTIVE, ERROR, REBOOT, HARD_REBOOT, SHUTOFF, DELETED…
	ImageID string
	// FlavorID is the flavor's id where Nova tells it (microversions below 2.47);
	// from 2.47 Nova embeds the flavor and only FlavorName is known.
	FlavorID   string
	FlavorName string
	KeyName    string
	Metadata   map[string]string
	// Addresses maps network name to the server's fixed addresses on it.
	Addresses map[string][]string
	// AccessIP is the first fixed IPv4 address (what remint connects to); "" when none.
	AccessIP string
	Fault    string // the fault message when Status is ERROR
	Created  time.Time
	Updated  time.Time
}

// ServerSpec is what CreateServer boots.
type ServerSpec struct {
	Name           string
	ImageID        string
	Flavor         string // flavor id or name
	Network        string // network id or name; "" for none
	KeyName        string
	SecurityGroups []string
	UserData       []byte // raw; the adapter base64-encodes it
	Metadata       map[string]string
}

// ListServersOpts filters ListServers. Nova cannot filter by metadata, so Metadata is
// applied client-side after listing by name prefix.
type ListServersOpts struct {
	NamePrefix string
	Metadata   map[string]string
	// NameRegexp, when set, is sent as Nova's name filter instead of the anchored
	// prefix, to narrow what Nova returns (Nova matches names by regular expression);
	// NamePrefix and Metadata are still checked here.
	NameRegexp string
}

// Flavor is a Nova flavor.
type Flavor struct {
	ID    string
	Name  string
	VCPUs int
	RAM   int // MiB
	Disk  int // GiB
}

// Limits is the compute quota headroom of the project.
type Limits struct {
	MaxInstances, UsedInstances int
	MaxCores, UsedCores         int
	MaxRAM, UsedRAM             int // MiB
}

// Image is a Glance image; custom properties (remint_family, remint_version,
// remint_state…) are in Properties.
type Image struct {
	ID         string
	Name       string
	Status     string // queued, saving, active, deactivated, killed, deleted
	Visibility string
	Hidden     bool
	Protected  bool
	Tags       []string
	Properties map[string]string
	Size       int64
	Checksum   string
	Created    time.Time
	Updated    time.Time
}

// ListImagesOpts filters ListImages; the adapter follows Glance's paging to the end.
type ListImagesOpts struct {
	Name          string
	Status        string
	Visibility    string
	Tags          []string          // every tag must be present
	Properties    map[string]string // custom property filters (top-level query keys)
	IncludeHidden bool              // also list os_hidden images
	Sort          string            // e.g. "created_at:desc,name:asc"
	PageSize      int               // Glance limit per page; 0 for the server default
}

// ImageUpdate is one Glance PATCH. Nil/empty fields are left unchanged.
type ImageUpdate struct {
	Name             *string
	SetProperties    map[string]string
	RemoveProperties []string
	Tags             *[]string // replaces the whole tag list, as Glance requires
	Visibility       *string
	Hidden           *bool
	Protected        *bool
}

// ImageCreate is a new Glance image record (data uploaded separately).
type ImageCreate struct {
	Name            string
	ContainerFormat string // default bare
	DiskFormat      string // default qcow2
	Visibility      string
	Tags            []string
	Properties      map[string]string
}

// Network is a Neutron network.
type Network struct {
	ID       string
	Name     string
	External bool
	Subnets  []string
}

// Port is a Neutron port.
type Port struct {
	ID          string
	NetworkID   string
	DeviceID    string
	DeviceOwner string
	Status      string
	MACAddress  string
	FixedIPs    []string
}

// FloatingIP is a Neutron floating IP. RevisionNumber guards updates (If-Match).
type FloatingIP struct {
	ID             string
	Address        string
	NetworkID      string
	PortID         string // "" when not associated
	FixedIP        string
	Status         string
	Description    string
	RevisionNumber int
}

// ListFloatingIPsOpts filters ListFloatingIPs.
type ListFloatingIPsOpts struct {
	Address   string
	PortID    string
	NetworkID string
}
