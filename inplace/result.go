package inplace

import (
	"time"

	"github.com/remint-dev/remint/internal/debian"
)

// Server statuses.
const (
	StatusPending    = "pending"
	StatusRunning    = "running"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusNotStarted = "not-started" // the error budget was spent first
	StatusPlanned    = "planned"     // --dry-run
)

// Phases of one server, in order.
const (
	PhaseConnect   = "connect"
	PhasePreflight = "preflight"
	PhaseSecurity  = "security"
	PhaseDocker    = "docker"
	PhaseWeave     = "weave"
	PhaseReboot    = "reboot"
	PhaseDone      = "done"
)

// Server is one server to patch.
type Server struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Addr string `json:"addr"` // its fixed address: SSH and health checks go there
}

// ServerResult is what happened to one server.
type ServerResult struct {
	Server   Server          `json:"server"`
	Status   string          `json:"status"`
	Phase    string          `json:"phase"` // reached (or failed in)
	Error    string          `json:"error,omitempty"`
	Security *SecurityResult `json:"security,omitempty"`
	Docker   *DockerResult   `json:"docker,omitempty"`
	Weave    *WeaveResult    `json:"weave,omitempty"`
	Reboot   *RebootResult   `json:"reboot,omitempty"`
	Started  time.Time       `json:"started,omitzero"`
	Duration time.Duration   `json:"duration_ns"`
}

// Change is one package moved from one version to another (or that failed to).
type Change struct {
	Name  string `json:"name"`
	From  string `json:"from"`
	To    string `json:"to"`
	Error string `json:"error,omitempty"`
}

// SecurityResult is the security phase's outcome.
type SecurityResult struct {
	// Installed are the security updates now installed (or, on a dry run, that would be).
	Installed []Change `json:"installed"`
	Failed    []Change `json:"failed"`
	// LeftAlone are pending updates that are not security updates: not installed.
	LeftAlone []debian.Upgrade `json:"left_alone"`
	// Unattended lists the unattended-upgrades files written ([] when already in place).
	Unattended []string `json:"unattended_configured"`
}

// RebootResult is the reboot phase's outcome.
type RebootResult struct {
	Policy   string   `json:"policy"`
	Wanted   bool     `json:"wanted"`             // /var/run/reboot-required existed
	Packages []string `json:"packages,omitempty"` // from reboot-required.pkgs
	Done     bool     `json:"done"`
	Via      string   `json:"via,omitempty"` // "nova" (the cloud's reboot API)
	// Downtime runs from the reboot request to the first passing health check.
	Downtime time.Duration `json:"downtime_ns"`
	// SSHBack is when SSH answered again (with the same host key), after the request.
	SSHBack time.Duration `json:"ssh_back_ns"`
}

// DockerResult is the docker phase's outcome.
type DockerResult struct {
	From          string            `json:"from"` // docker.io package version before
	To            string            `json:"to"`
	EngineFrom    string            `json:"engine_from"` // Engine API version string before
	EngineTo      string            `json:"engine_to"`
	Changed       bool              `json:"changed"`
	EngineRestart bool              `json:"engine_restarted"`
	Containers    []ContainerResult `json:"containers"`
}

// ContainerResult is one container that was running before the engine upgrade.
type ContainerResult struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// RestartedByRemint says its restart policy did not bring it back, so remint started it.
	RestartedByRemint bool `json:"restarted_by_remint"`
	Running           bool `json:"running"`
	// Downtime is from when the container stopped to when it ran again (the engine's
	// FinishedAt and StartedAt).
	Downtime time.Duration `json:"downtime_ns"`
}

// WeaveResult is the weave phase's outcome.
type WeaveResult struct {
	From    string   `json:"from"`
	To      string   `json:"to"`
	Changed bool     `json:"changed"`
	Peers   []string `json:"peers"`
}
