package manifest

import "time"

// Manifest is remint.yaml: which cloud, which image families, which server groups and
// which schedules. Load parses and validates it; every field below is checked there.
type Manifest struct {
	// Path is the file the manifest was loaded from (for messages); not a YAML key.
	Path string `yaml:"-"`

	// Cloud names an entry of clouds.yaml (OS_CLOUD overrides it when set).
	Cloud string `yaml:"cloud"`
	// State is where remint keeps rollout and job state; default "remint.db" beside the
	// manifest (SQLite). A postgres:// URL selects PostgreSQL.
	State string `yaml:"state"`
	// Families are image families keyed by name (e.g. "debian-12").
	Families map[string]*Family `yaml:"families"`
	// Groups are server groups keyed by name (e.g. "web").
	Groups map[string]*Group `yaml:"groups"`
	// Schedules are named rrule schedules keyed by name.
	Schedules map[string]*Schedule `yaml:"schedules"`
}

// Family is an image family: how its images are built and released.
type Family struct {
	Name string `yaml:"-"`
	// SourceImage is the Glance image (name or id) builds start from.
	SourceImage string    `yaml:"source_image"`
	Flavor      string    `yaml:"flavor"`
	Network     string    `yaml:"network"`
	SSHUser     string    `yaml:"ssh_user"`
	KeyName     string    `yaml:"key_name"`
	Provision   Provision `yaml:"provision"`
	// Release is an RFC 5545 rrule (one-line form allowed); default monthly.
	Release string `yaml:"release"`
	// Retention is how many non-retired versions to keep (active + deprecated); default 3.
	Retention int `yaml:"retention"`
	// BuildOnlyOnChange skips a scheduled build when neither the source image nor the
	// package set changed.
	BuildOnlyOnChange bool `yaml:"build_only_on_change"`
}

// Provision says what an image build installs.
type Provision struct {
	// FullUpgrade runs apt full-upgrade on the builder; default true.
	FullUpgrade *bool `yaml:"full_upgrade"`
	// Docker pins the Docker engine package version (Debian's docker.io), "" for none.
	Docker string `yaml:"docker"`
	// Weave pins Weave Net, nil for none.
	Weave *Weave `yaml:"weave"`
	// Packages are extra apt packages to install (validated names, optional =version).
	Packages []string `yaml:"packages"`
	// Scripts are shell scripts run as root on the builder, in order.
	Scripts []string `yaml:"scripts"`
}

// Weave pins a Weave Net release by script URL and SHA-256.
type Weave struct {
	Version   string `yaml:"version"`
	ScriptURL string `yaml:"script_url"`
	SHA256    string `yaml:"sha256"`
}

// Group is a set of interchangeable servers behind failover addresses.
type Group struct {
	Name  string `yaml:"-"`
	Count int    `yaml:"count"`
	// Image selects what servers boot: the family's latest active image, or a pinned one.
	Image          ImageRef          `yaml:"image"`
	Flavor         string            `yaml:"flavor"`
	Network        string            `yaml:"network"`
	KeyName        string            `yaml:"key_name"`
	SSHUser        string            `yaml:"ssh_user"`
	SecurityGroups []string          `yaml:"security_groups"`
	UserData       string            `yaml:"user_data"`
	Metadata       map[string]string `yaml:"metadata"`
	// Replaceable is false for stateful pets that are patched in place; default true.
	Replaceable *bool          `yaml:"replaceable"`
	Failover    Failover       `yaml:"failover"`
	Health      HealthCheck    `yaml:"health"`
	Rollout     Rollout        `yaml:"rollout"`
	InPlace     InPlaceOptions `yaml:"inplace"`
}

// ImageRef picks an image: Family (latest active) or ID/Version (pinned).
type ImageRef struct {
	Family  string `yaml:"family"`
	Version string `yaml:"version"`
	ID      string `yaml:"id"`
}

// Failover lists the group's failover addresses.
type Failover struct {
	// Mode is "per_server" (one address per slot; the default for rolling) or "group"
	// (one address for the whole group; blue/green).
	Mode      string    `yaml:"mode"`
	Addresses []Address `yaml:"addresses"`
}

// Address is one floating IP: by address, by id, or allocated from an external network on
// first deploy (and then recorded in the state store).
type Address struct {
	Address      string `yaml:"address"`
	ID           string `yaml:"id"`
	AllocateFrom string `yaml:"allocate_from"`
}

// HealthCheck says how a server proves it is healthy. Exactly one of HTTP, TCP, Command.
type HealthCheck struct {
	HTTP    *HTTPCheck `yaml:"http"`
	TCP     *TCPCheck  `yaml:"tcp"`
	Command string     `yaml:"command"` // run over SSH; healthy on exit 0

	Interval           time.Duration `yaml:"interval"`            // default 1s
	Timeout            time.Duration `yaml:"timeout"`             // default 2s
	HealthyThreshold   int           `yaml:"healthy_threshold"`   // consecutive passes; default 3
	UnhealthyThreshold int           `yaml:"unhealthy_threshold"` // consecutive failures; default 3
	GracePeriod        time.Duration `yaml:"grace_period"`        // after ACTIVE; default 0
	// Deadline bounds how long a replacement may take to become healthy; default 5m.
	Deadline time.Duration `yaml:"deadline"`
}

// HTTPCheck is an HTTP GET health check.
type HTTPCheck struct {
	Port   int    `yaml:"port"`   // default 8080
	Path   string `yaml:"path"`   // default /healthz
	Status int    `yaml:"status"` // default 200
	Body   string `yaml:"body"`   // substring the body must contain; "" for any
}

// TCPCheck is a TCP connect health check.
type TCPCheck struct {
	Port int `yaml:"port"`
}

// Rollout tunes rebuild-and-failover.
type Rollout struct {
	Strategy       string        `yaml:"strategy"`        // rolling (default) or bluegreen
	MaxSurge       *int          `yaml:"max_surge"`       // default 1
	MaxUnavailable *int          `yaml:"max_unavailable"` // default 0
	Soak           time.Duration `yaml:"soak"`            // before old servers are retired; default 0
	KeepOld        time.Duration `yaml:"keep_old"`        // old servers kept for rollback; default 0
	// HealthGate checks through the failover address after each move; default true.
	HealthGate *bool `yaml:"health_gate"`
}

// InPlaceOptions tune the in-place fallback for this group.
type InPlaceOptions struct {
	// Reboot is never, if-required (default) or always.
	Reboot      string `yaml:"reboot"`
	Concurrency int    `yaml:"concurrency"`  // default 1
	ErrorBudget int    `yaml:"error_budget"` // failed servers tolerated before stopping; default 0
}

// Schedule fires an action on a target by rrule, inside a maintenance window.
type Schedule struct {
	Name string `yaml:"-"`
	// RRule is an RFC 5545 rule, e.g. "DTSTART;TZID=Europe/Sofia:20200803T134000
	// RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA".
	RRule string `yaml:"rrule"`
	// Window is the maintenance window length, 1h to 24h.
	Window time.Duration `yaml:"window"`
	// Action is build-image, rebuild, inplace or update (policy decides).
	Action string `yaml:"action"`
	// Target is a family (for build-image) or a group.
	Target  string          `yaml:"target"`
	Options ScheduleOptions `yaml:"options"`
}

// ScheduleOptions are the "deploy with options" switches.
type ScheduleOptions struct {
	ApplySecurityUpgrades bool `yaml:"apply_security_upgrades"`
	RebootIfRequired      bool `yaml:"reboot_if_required"`
	ApplyDockerUpgrades   bool `yaml:"apply_docker_upgrades"`
}
