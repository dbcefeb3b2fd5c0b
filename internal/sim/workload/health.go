package workload

import "sync/atomic"

// Health is a workload's health switch, safe for concurrent use. Drivers flip it to
// simulate a server that turns bad after booting.
type Health struct{ unhealthy atomic.Bool }

// NewHealth returns a switch set to healthy or not.
func NewHealth(healthy bool) *Health {
	h := &Health{}
	h.Set(healthy)
	return h
}

// Set makes /healthz answer 200 (true) or 503 (false).
func (h *Health) Set(healthy bool) { h.unhealthy.Store(!healthy) }

// Healthy reports the current state.
func (h *Health) Healthy() bool { return !h.unhealthy.Load() }
