package inplace

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reboot policies.
const (
	RebootNever      = "never"
	RebootIfRequired = "if-required"
	RebootAlways     = "always"
)

// ParseReboot checks a reboot policy.
func ParseReboot(s string) (string, error) {
	switch s {
	case RebootNever, RebootIfRequired, RebootAlways:
		return s, nil
	}
	return "", fmt.Errorf("reboot policy %q: want never, if-required or always", s)
}

// Budget is how many failed servers a run tolerates before it starts no new server:
// a count, or a percentage of the servers in the run.
type Budget struct {
	Count   int
	Percent int // used when IsPercent
	// IsPercent says the budget is Percent% of the servers (rounded down).
	IsPercent bool
}

// ParseBudget reads "N" or "P%".
func ParseBudget(s string) (Budget, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 {
			return Budget{}, fmt.Errorf("error budget %q: want a count (0, 1, …) or a percentage 0%%–100%%", s)
		}
		return Budget{Percent: n, IsPercent: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Budget{}, fmt.Errorf("error budget %q: want a count (0, 1, …) or a percentage 0%%–100%%", s)
	}
	return Budget{Count: n}, nil
}

// Allowed is how many of total servers may fail before the roll stops.
func (b Budget) Allowed(total int) int {
	if b.IsPercent {
		return total * b.Percent / 100
	}
	return b.Count
}

func (b Budget) String() string {
	if b.IsPercent {
		return strconv.Itoa(b.Percent) + "%"
	}
	return strconv.Itoa(b.Count)
}

// Options say what a run does to every server.
type Options struct {
	Security bool   `json:"security"`
	Reboot   string `json:"reboot"` // RebootNever, RebootIfRequired, RebootAlways
	Docker   bool   `json:"docker"`
	// DockerVersion is the docker.io version to install (the manifest's pin).
	DockerVersion  string `json:"docker_version,omitempty"`
	AllowDowngrade bool   `json:"allow_downgrade,omitempty"`
	Weave          bool   `json:"weave"`
	// WeaveSpec is the pinned Weave Net release (manifest).
	WeaveSpec   *WeaveSpec `json:"weave_spec,omitempty"`
	Concurrency int        `json:"concurrency"`
	MaxErrors   Budget     `json:"max_errors"`
	DryRun      bool       `json:"dry_run"`
	// LockTimeout bounds the wait for apt/dpkg locks held by another run.
	LockTimeout time.Duration `json:"lock_timeout"`
	// MinFreeBytes is the free space apt's cache needs on each server.
	MinFreeBytes int64 `json:"min_free_bytes"`
	// SSHTimeout bounds the wait for SSH after a reboot.
	SSHTimeout time.Duration `json:"ssh_timeout"`
}

// WeaveSpec pins Weave Net: the launch script at ScriptURL must have SHA256.
type WeaveSpec struct {
	Version   string   `json:"version"`
	ScriptURL string   `json:"script_url"`
	SHA256    string   `json:"sha256"`
	Peers     []string `json:"peers,omitempty"`
}

// withDefaults fills zero values.
func (o Options) withDefaults() Options {
	if o.Reboot == "" {
		o.Reboot = RebootIfRequired
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Minute
	}
	if o.MinFreeBytes <= 0 {
		o.MinFreeBytes = 256 << 20
	}
	if o.SSHTimeout <= 0 {
		o.SSHTimeout = 5 * time.Minute
	}
	return o
}

// Validate checks options that do not need the cloud.
func (o Options) Validate() error {
	if _, err := ParseReboot(o.withDefaults().Reboot); err != nil {
		return err
	}
	if !o.Security && !o.Docker && !o.Weave && o.Reboot != RebootAlways {
		return fmt.Errorf("nothing to do: ask for --security, --docker, --weave or --reboot always")
	}
	if o.Docker && o.DockerVersion == "" {
		return fmt.Errorf("--docker: the manifest pins no Docker version (families.<family>.provision.docker)")
	}
	if o.Weave && (o.WeaveSpec == nil || o.WeaveSpec.ScriptURL == "" || o.WeaveSpec.SHA256 == "") {
		return fmt.Errorf("--weave: the manifest pins no Weave Net release (families.<family>.provision.weave)")
	}
	return nil
}
