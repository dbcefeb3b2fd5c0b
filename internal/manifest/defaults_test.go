package manifest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAppliesDefaults(t *testing.T) {
	t.Parallel()
	m, err := Parse("dir/remint.yaml", []byte(withGroup("")))
	require.NoError(t, err)

	assert.Equal(t, DefaultStateFile, m.State)
	f := m.Families["f1"]
	assert.Equal(t, DefaultRelease, f.Release)
	assert.Equal(t, 3, f.Retention)
	require.NotNil(t, f.Provision.FullUpgrade)
	assert.True(t, *f.Provision.FullUpgrade)

	g := m.Groups["web"]
	assert.Equal(t, "web", g.Name)
	assert.Equal(t, "debian", g.SSHUser)
	require.NotNil(t, g.Replaceable)
	assert.True(t, *g.Replaceable)
	assert.Equal(t, Rollout{Strategy: "rolling", MaxSurge: ptr(1), MaxUnavailable: ptr(0), HealthGate: ptr(true)}, g.Rollout)
	assert.Equal(t, Failover{Mode: "per_server"}, g.Failover)
	assert.Equal(t, InPlaceOptions{Reboot: "if-required", Concurrency: 1}, g.InPlace)
	assert.Equal(t, HealthCheck{
		HTTP:     &HTTPCheck{Port: 8080, Path: "/healthz", Status: 200},
		Interval: time.Second, Timeout: 2 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 3,
		Deadline: 5 * time.Minute,
	}, g.Health)

	abs, err := filepath.Abs("dir/remint.db")
	require.NoError(t, err)
	assert.Equal(t, abs, m.StatePath())
}

func TestParseKeepsExplicitValues(t *testing.T) {
	t.Parallel()
	m, err := Parse("t.yaml", []byte(withGroup(`ssh_user: admin
replaceable: false
rollout: {max_surge: 0, max_unavailable: 2, health_gate: false}
inplace: {reboot: never, concurrency: 4, error_budget: 1}
health:
  tcp: {port: 5432}
  interval: 10s
  grace_period: 30s`)))
	require.NoError(t, err)
	g := m.Groups["web"]
	assert.Equal(t, "admin", g.SSHUser)
	assert.False(t, g.IsReplaceable())
	assert.Equal(t, 0, g.MaxSurge())
	assert.Equal(t, 2, g.MaxUnavailable())
	assert.False(t, g.HealthGate())
	assert.Equal(t, "never", g.RebootPolicy())
	assert.Equal(t, 4, g.Concurrency())
	assert.Equal(t, "tcp", g.Health.Kind())
	assert.Nil(t, g.Health.HTTP, "a TCP check gets no HTTP defaults")
	assert.Equal(t, 10*time.Second, g.Health.Interval)
	assert.Equal(t, 30*time.Second, g.Health.GracePeriod)
}

// TestAccessorsOnZeroValues checks that manifests built in code (not loaded) read the
// same defaults and never hand out nil pointers.
func TestAccessorsOnZeroValues(t *testing.T) {
	t.Parallel()
	g := &Group{Count: 2}
	assert.True(t, g.IsReplaceable())
	assert.Equal(t, "rolling", g.Strategy())
	assert.Equal(t, 1, g.MaxSurge())
	assert.Equal(t, 0, g.MaxUnavailable())
	assert.True(t, g.HealthGate())
	assert.Equal(t, "per_server", g.FailoverMode())
	assert.Equal(t, "if-required", g.RebootPolicy())
	assert.Equal(t, 1, g.Concurrency())
	assert.Nil(t, g.AddressSlots())
	h := g.HealthCheck()
	require.NotNil(t, h.HTTP)
	assert.Equal(t, HTTPCheck{Port: 8080, Path: "/healthz", Status: 200}, *h.HTTP)
	assert.Nil(t, g.Health.HTTP, "HealthCheck returns a copy")

	cmd := HealthCheck{Command: "systemctl is-active nginx"}.WithDefaults()
	assert.Equal(t, "command", cmd.Kind())
	assert.Nil(t, cmd.HTTP, "a command check gets no HTTP defaults")
	assert.Equal(t, 5*time.Minute, cmd.Deadline)

	f := &Family{}
	assert.True(t, f.FullUpgrade())
	assert.Equal(t, 3, f.Keep())
	assert.Equal(t, DefaultRelease, f.ReleaseRule())
	_, err := f.ReleaseSet()
	require.NoError(t, err)

	m := &Manifest{Path: "/etc/remint/remint.yaml"}
	assert.Equal(t, "/etc/remint/remint.db", m.StatePath())
	m.State = "/var/lib/remint/state.db"
	assert.Equal(t, "/var/lib/remint/state.db", m.StatePath())
	m.State = "postgresql://remint@db/remint"
	assert.True(t, m.StateIsPostgres())
	assert.Equal(t, "postgresql://remint@db/remint", m.StatePath())
}

func TestAddressSlots(t *testing.T) {
	t.Parallel()
	pub := Address{AllocateFrom: "public"}
	a, b := Address{Address: "203.0.113.5"}, Address{ID: "fip-2"}
	cases := []struct {
		name string
		g    Group
		want []Address
	}{
		{"none", Group{Count: 3}, nil},
		{"one allocate_from per slot", Group{Count: 3, Failover: Failover{Addresses: []Address{pub}}}, []Address{pub, pub, pub}},
		{"one listed per slot", Group{Count: 2, Failover: Failover{Addresses: []Address{a, b}}}, []Address{a, b}},
		{"single server", Group{Count: 1, Failover: Failover{Addresses: []Address{a}}}, []Address{a}},
		{"group mode", Group{Count: 3, Failover: Failover{Mode: ModeGroup, Addresses: []Address{pub}}}, []Address{pub}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, c.want, c.g.AddressSlots())
		})
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(EnvPath, "")
	assert.Equal(t, "remint.yaml", DefaultPath())
	t.Setenv(EnvPath, "/etc/remint/fleet.yaml")
	assert.Equal(t, "/etc/remint/fleet.yaml", DefaultPath())
}

func TestClosest(t *testing.T) {
	t.Parallel()
	fields := []string{"strategy", "max_surge", "max_unavailable", "soak", "keep_old", "health_gate"}
	cases := map[string]string{
		"max_surg":        "max_surge",
		"maxSurge":        "max_surge",
		"MAX-UNAVAILABLE": "max_unavailable",
		"stratgey":        "strategy",
		"sok":             "soak",
		"colour":          "",
		"s":               "",
	}
	for in, want := range cases {
		assert.Equal(t, want, closest(in, fields), in)
	}
}

func TestCloudHealthDefaults(t *testing.T) {
	t.Parallel()
	for name, health := range map[string]string{"braces": "health: {cloud: {}}", "null": "health:\n  cloud:\n"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse("remint.yaml", []byte(withGroup(health)))
			require.NoError(t, err)
			h := m.Groups["web"].HealthCheck()
			assert.Equal(t, "cloud", h.Kind())
			assert.Equal(t, &CloudCheck{}, h.Cloud)
			assert.Nil(t, h.HTTP, "a cloud check gets no default HTTP check")
			assert.Equal(t, DefaultHealthyThreshold, h.HealthyThreshold)
			assert.Equal(t, DefaultHealthInterval, h.Interval)
			assert.Equal(t, DefaultHealthDeadline, h.Deadline)
		})
	}
}
