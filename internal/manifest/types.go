package manifest

import "time"

// Manifest is remint.yaml: which cloud, which image families, which server groups and
// which schedules. Load parses and validates it; every field below is checked there, and
// the defaults named in the comments are filled in. At least one family or group is
// required; names of families and groups are DNS labels (they end up in server and image
// names), schedule names too.
type Manifest struct {
	// Path is the file the manifest was loaded from (for messages); not a YAML key.
	Path string `yaml:"-"`
	// dir is the absolute directory of Path at load time; relative paths resolve from it.
	dir string

	// Cloud names an entry of clouds.yaml. It is resolved when the cloud is used, not here:
	// OS_CLOUD, when set, overrides it, and when both are empty the OS_* variables are used.
	Cloud string `yaml:"cloud,omitempty"`
	// State is where remint keeps rollout and job state; default "remint.db" beside the
	// manifest (SQLite; relative paths resolve from the manifest's directory). A
	// postgres:// or postgresql:// URL selects PostgreSQL. Use StatePath to read it.
	State string `yaml:"state,omitempty"`
	// Families are image families keyed by name (e.g. "debian-12").
	Families map[string]*Family `yaml:"families,omitempty"`
	// Groups are server groups keyed by name (e.g. "web").
	Groups map[string]*Group `yaml:"groups,omitempty"`
	// Schedules are named rrule schedules keyed by name.
	Schedules map[string]*Schedule `yaml:"schedules,omitempty"`
}

// Family is an image family: how its images are built and released.
type Family struct {
	Name string `yaml:"-"`
	// SourceImage is the Glance image (name or id) builds start from. Required.
	SourceImage string `yaml:"source_image,omitempty"`
	// Flavor and Network (name or id) of the builder server. Required.
	Flavor  string `yaml:"flavor,omitempty"`
	Network string `yaml:"network,omitempty"`
	// SSHUser is the login user of the source image (Debian cloud images: "debian").
	// Required; groups booting from the family inherit it.
	SSHUser string `yaml:"ssh_user,omitempty"`
	// KeyName is the Nova keypair injected into the builder; optional.
	KeyName   string    `yaml:"key_name,omitempty"`
	Provision Provision `yaml:"provision,omitempty"`
	// Release is an RFC 5545 rrule (one-line form allowed, see ParseRRule) at which a new
	// version is built; default DefaultRelease (monthly, 1st at 02:00 UTC). A build-image
	// schedule naming the family takes its place (the build then runs in its window).
	Release string `yaml:"release,omitempty"`
	// Retention is how many non-retired versions to keep (active + deprecated); default 3,
	// at least 1.
	Retention int `yaml:"retention,omitempty"`
	// BuildOnlyOnChange skips a scheduled build when neither the source image nor the
	// package set changed.
	BuildOnlyOnChange bool `yaml:"build_only_on_change,omitempty"`
	// Health is the family's own check of a verification boot (same shape as a group's
	// health); nil for none. The checks of groups booting from the family run as well.
	Health *HealthCheck `yaml:"health,omitempty"`
}

// Provision says what an image build installs.
type Provision struct {
	// FullUpgrade runs apt full-upgrade on the builder; default true.
	FullUpgrade *bool `yaml:"full_upgrade,omitempty"`
	// Docker pins the Docker engine package version (Debian's docker.io), "" for none.
	// A Debian version: optional epoch, starting with a digit, e.g. "20.10.24+dfsg1-1+b3".
	Docker string `yaml:"docker,omitempty"`
	// Weave pins Weave Net, nil for none.
	Weave *Weave `yaml:"weave,omitempty"`
	// Packages are extra apt packages to install: "name" or "name=version", name and
	// version as Debian policy allows them (checked with strict patterns, no duplicates).
	Packages []string `yaml:"packages,omitempty"`
	// Scripts are shell scripts (their text, not file names) run as root on the builder,
	// in order, after the packages.
	Scripts []string `yaml:"scripts,omitempty"`
}

// Weave pins a Weave Net release by script URL and SHA-256. All three are required.
type Weave struct {
	Version string `yaml:"version,omitempty"` // e.g. 2.8.1 (a leading v is allowed)
	// ScriptURL is an https:// URL or a file:/// path of the weave launch script.
	ScriptURL string `yaml:"script_url,omitempty"`
	// SHA256 is the script's digest, 64 hex digits (lower-cased by Load).
	SHA256 string `yaml:"sha256,omitempty"`
}

// Group is a set of interchangeable servers behind failover addresses.
type Group struct {
	Name string `yaml:"-"`
	// Count is how many servers the group runs, 1 to 1000. Required.
	Count int `yaml:"count,omitempty"`
	// Image selects what servers boot: the family's latest active image, or a pinned one.
	// Required.
	Image ImageRef `yaml:"image,omitempty"`
	// Flavor and Network (name or id) of the servers. Required.
	Flavor  string `yaml:"flavor,omitempty"`
	Network string `yaml:"network,omitempty"`
	KeyName string `yaml:"key_name,omitempty"` // Nova keypair; optional
	// SSHUser logs in for in-place patching and command health checks; default the
	// image family's ssh_user. Required (directly or through the family) when the group
	// is not replaceable or its health check is a command.
	SSHUser        string   `yaml:"ssh_user,omitempty"`
	SecurityGroups []string `yaml:"security_groups,omitempty"`
	// UserData is cloud-init user data, at most 48 KiB (Nova's limit after base64).
	UserData string `yaml:"user_data,omitempty"`
	// Metadata is set on every server (Nova: keys and values at most 255 characters).
	Metadata map[string]string `yaml:"metadata,omitempty"`
	// Replaceable is false for stateful pets that are patched in place; default true.
	Replaceable *bool    `yaml:"replaceable,omitempty"`
	Failover    Failover `yaml:"failover,omitempty"`
	// Health defaults, when the whole section is left out, to an HTTP check with the
	// HTTPCheck defaults (GET :8080/healthz, status 200).
	Health  HealthCheck    `yaml:"health,omitempty"`
	Rollout Rollout        `yaml:"rollout,omitempty"`
	InPlace InPlaceOptions `yaml:"inplace,omitempty"`
}

// ImageRef picks an image, exactly one of: Family alone (the family's latest active
// version), Family with Version (that version, pinned), or ID (a Glance image id, pinned).
// Family must name a family of the manifest; Version has the form YYYY.MM.N.
type ImageRef struct {
	Family  string `yaml:"family,omitempty"`
	Version string `yaml:"version,omitempty"`
	ID      string `yaml:"id,omitempty"`
}

// Failover lists the group's failover addresses.
//
// Mode "per_server" (the default) gives each of the Count slots its own address, moved to
// the slot's replacement once it is healthy. Addresses then lists either Count entries
// (slot i uses entry i), or a single allocate_from entry meaning "one address per slot,
// allocated from that network on first deploy" (see Group.AddressSlots), or nothing at all
// for groups nobody reaches through a floating IP (workers, private pets).
//
// Mode "group" has exactly one address for the whole group, moved at once to the new
// generation; it needs rollout strategy bluegreen. Strategy bluegreen works with both
// modes (with per_server, every slot's address moves in the same step); rolling needs
// per_server.
type Failover struct {
	Mode      string    `yaml:"mode,omitempty"`
	Addresses []Address `yaml:"addresses,omitempty"`
	// ReleaseAddresses, when a lowered count removes slots, gives the floating IPs remint
	// allocated for them back to the pool; false (default) keeps them recorded for a
	// later raise. Addresses the manifest names (address, id) are never released.
	ReleaseAddresses bool `yaml:"release_addresses,omitempty"`
}

// Address is one floating IP, exactly one of: Address (an IP), ID (a Neutron floating IP
// id), or AllocateFrom (an external network, name or id, to allocate from on first deploy;
// the allocated address is then recorded in the state store).
type Address struct {
	Address      string `yaml:"address,omitempty"`
	ID           string `yaml:"id,omitempty"`
	AllocateFrom string `yaml:"allocate_from,omitempty"`
}

// HealthCheck says how a server proves it is healthy. Exactly one of HTTP, TCP, Command,
// Cloud when the section is written (see Group.Health for when it is not). Durations are Go
// duration strings ("30s", "10m"); intervals, timeouts and the deadline must be > 0, the
// deadline longer than the grace period, thresholds at least 1.
type HealthCheck struct {
	HTTP    *HTTPCheck `yaml:"http,omitempty"`
	TCP     *TCPCheck  `yaml:"tcp,omitempty"`
	Command string     `yaml:"command,omitempty"` // run over SSH; healthy on exit 0
	// Cloud is for groups with nothing to probe (workers, batch servers): healthy when
	// the cloud says so, which proves less than a probe (see CloudCheck).
	Cloud *CloudCheck `yaml:"cloud,omitempty"`

	Interval           time.Duration `yaml:"interval,omitempty"`            // default 1s
	Timeout            time.Duration `yaml:"timeout,omitempty"`             // default 2s
	HealthyThreshold   int           `yaml:"healthy_threshold,omitempty"`   // consecutive passes; default 3
	UnhealthyThreshold int           `yaml:"unhealthy_threshold,omitempty"` // consecutive failures; default 3
	GracePeriod        time.Duration `yaml:"grace_period,omitempty"`        // after ACTIVE; default 0
	// Deadline bounds how long a replacement may take to become healthy; default 5m.
	Deadline time.Duration `yaml:"deadline,omitempty"`
}

// HTTPCheck is an HTTP GET health check.
type HTTPCheck struct {
	Port   int    `yaml:"port,omitempty"`   // default 8080; 1 to 65535
	Path   string `yaml:"path,omitempty"`   // default /healthz; starts with /
	Status int    `yaml:"status,omitempty"` // default 200; 100 to 599
	Body   string `yaml:"body,omitempty"`   // substring the body must contain; "" for any
}

// CloudCheck, written `cloud: {}`, counts a server healthy when Nova says ACTIVE, its
// Neutron ports are ACTIVE and, where the console log is readable, the console shows that
// the boot has finished (cloud-init's "Cloud-init v. … finished at …" line), for
// healthy_threshold consecutive polls. It proves that the server booted, not that it
// does its work: nothing is probed on the server itself. It has no fields; families'
// verification boots cannot use it (their server is already known to be ACTIVE).
type CloudCheck struct{}

// TCPCheck is a TCP connect health check.
type TCPCheck struct {
	Port int `yaml:"port,omitempty"` // required; 1 to 65535
}

// Rollout tunes rebuild-and-failover. MaxSurge and MaxUnavailable are for rolling only
// (bluegreen builds the whole new generation before anything moves) and may not both be
// 0. Use the Group accessors (MaxSurge, MaxUnavailable, HealthGate, Strategy) to read them.
type Rollout struct {
	Strategy       string        `yaml:"strategy,omitempty"`        // rolling (default) or bluegreen
	MaxSurge       *int          `yaml:"max_surge,omitempty"`       // extra servers at a time; default 1, >= 0
	MaxUnavailable *int          `yaml:"max_unavailable,omitempty"` // slots down at a time; default 0, >= 0
	Soak           time.Duration `yaml:"soak,omitempty"`            // before old servers are retired; default 0
	KeepOld        time.Duration `yaml:"keep_old,omitempty"`        // old servers kept for rollback; default 0
	// HealthGate checks through the failover address after each move; default true.
	HealthGate *bool `yaml:"health_gate,omitempty"`
	// Bake is how long each wave's new servers are watched behind their addresses
	// (health through the address) before the next wave starts, the old servers still
	// there; a failure during it rolls the wave back. ASG's BakeTime, Spinnaker's wait
	// stage. Default 0 (none); rolling rollouts with a bake run wave by wave.
	Bake time.Duration `yaml:"bake,omitempty"`
	// RollbackOnFailure is what a failed bake rolls back: wave (default) or all (every
	// wave of the rollout so far; old servers are then kept until the last bake passed).
	RollbackOnFailure string `yaml:"rollback_on_failure,omitempty"`
	// Gate is an alarm gate evaluated before each wave, after each move and during the
	// bake; when it fails the wave rolls back (ASG's AlarmSpecification).
	Gate *RolloutGate `yaml:"gate,omitempty"`
}

// RolloutGate names the alarm source of a rollout gate.
type RolloutGate struct {
	Prometheus *PrometheusGate `yaml:"prometheus,omitempty"`
}

// PrometheusGate is a PromQL query whose value (in every series) must not exceed Max.
type PrometheusGate struct {
	URL   string   `yaml:"url,omitempty"`   // http(s)://prometheus:9090
	Query string   `yaml:"query,omitempty"` // an instant vector or scalar expression
	Max   *float64 `yaml:"max,omitempty"`   // required
}

// InPlaceOptions tune the in-place fallback for this group.
type InPlaceOptions struct {
	// Reboot is never, if-required (default) or always.
	Reboot      string `yaml:"reboot,omitempty"`
	Concurrency int    `yaml:"concurrency,omitempty"`  // servers patched at once; default 1, >= 1
	ErrorBudget int    `yaml:"error_budget,omitempty"` // failed servers tolerated before stopping; default 0
}

// Schedule fires an action on a target by rrule, inside a maintenance window.
type Schedule struct {
	Name string `yaml:"-"`
	// RRule is an RFC 5545 rule, e.g. "DTSTART;TZID=Europe/Sofia:20200803T134000
	// RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA" (see ParseRRule). Required.
	RRule string `yaml:"rrule,omitempty"`
	// Window is the maintenance window length, 1h to 24h. Required.
	Window time.Duration `yaml:"window,omitempty"`
	// Action is build-image, rebuild, inplace or update (policy decides). Required.
	Action string `yaml:"action,omitempty"`
	// Target is a family for build-image, a group for the others; rebuild needs a
	// replaceable group. Required.
	Target string `yaml:"target,omitempty"`
	// Options apply to the inplace and update actions only.
	Options ScheduleOptions `yaml:"options,omitempty"`
}

// ScheduleOptions are the "deploy with options" switches.
type ScheduleOptions struct {
	ApplySecurityUpgrades bool `yaml:"apply_security_upgrades,omitempty"`
	RebootIfRequired      bool `yaml:"reboot_if_required,omitempty"`
	ApplyDockerUpgrades   bool `yaml:"apply_docker_upgrades,omitempty"`
	ApplyWeaveUpgrades    bool `yaml:"apply_weave_upgrades,omitempty"`
}
