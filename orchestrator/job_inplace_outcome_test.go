package orchestrator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/store"
)

// An in-place job's event log says what changed on each server: every security update
// from → to (and each that failed), the Docker engine's move, and the reboot with the
// packages that wanted it, how it was done and its downtime — or why it was not done.
func TestInPlaceJobEventsSayWhatChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db0 := inplace.ServerResult{
		Server: inplace.Server{ID: "id-db-0", Name: "db-0"}, Status: inplace.StatusSucceeded, Phase: inplace.PhaseDone,
		Security: &inplace.SecurityResult{Installed: []inplace.Change{
			{Name: "libssl3", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1"},
			{Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1"},
		}},
		Docker: &inplace.DockerResult{From: "20.10.24+dfsg1-1+b3", To: "20.10.24+dfsg1-1+deb12u1", Changed: true},
		Reboot: &inplace.RebootResult{Policy: inplace.RebootIfRequired, Wanted: true, Packages: []string{"libssl3"}, Done: true, Via: "nova",
			Downtime: 2529 * time.Millisecond},
	}
	db1 := inplace.ServerResult{
		Server: inplace.Server{ID: "id-db-1", Name: "db-1"}, Status: inplace.StatusFailed, Phase: inplace.PhaseSecurity, Error: "apt exited 100",
		Security: &inplace.SecurityResult{
			Installed: []inplace.Change{{Name: "libssl3", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1"}},
			Failed:    []inplace.Change{{Name: "libc6", From: "2.36-9+deb12u3", To: "2.36-9+deb12u4", Error: "dpkg: error processing package libc6"}},
		},
	}
	db2 := inplace.ServerResult{
		Server: inplace.Server{ID: "id-db-2", Name: "db-2"}, Status: inplace.StatusSucceeded, Phase: inplace.PhaseDone,
		Security: &inplace.SecurityResult{Installed: []inplace.Change{{Name: "libc6", From: "2.36-9+deb12u3", To: "2.36-9+deb12u4"}}},
		Reboot:   &inplace.RebootResult{Policy: inplace.RebootNever, Wanted: true, Packages: []string{"libc6"}},
	}
	p := &fakePatcher{calls: map[string]InPlaceOptions{}, sums: map[string]inplace.Summary{
		"db": {Run: "ip-1", Group: "db", Status: store.InplaceFailed, Succeeded: 2, Failed: 1, Error: "1 of 3 servers failed, 0 not started",
			Servers: []inplace.ServerResult{db0, db1, db2}},
	}}
	q := newKindQueue(t, Registry{KindInPlace: InPlaceHandler{Groups: func(name string) bool { return name == "db" }, Patch: p.patch}})
	j, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "db", Options: json.RawMessage(`{"apply_security_upgrades":true,"reboot_if_required":true}`)}, nil)
	require.NoError(t, err)
	done := waitStatus(t, q, j.ID, StatusFailed)

	want := []JobEvent{
		{Level: "info", Message: "in-place db-0: installed libssl3 3.0.11-1~deb12u1 → 3.0.13-1~deb12u1"},
		{Level: "info", Message: "in-place db-0: installed openssl 3.0.11-1~deb12u1 → 3.0.13-1~deb12u1"},
		{Level: "info", Message: "in-place db-0: docker.io 20.10.24+dfsg1-1+b3 → 20.10.24+dfsg1-1+deb12u1"},
		{Level: "info", Message: "in-place db-0: reboot wanted by libssl3: rebooted through nova, downtime 2.529s"},
		{Level: "info", Message: "in-place db-1: installed libssl3 3.0.11-1~deb12u1 → 3.0.13-1~deb12u1"},
		{Level: "error", Message: "in-place db-1: failed to install libc6 2.36-9+deb12u3 → 2.36-9+deb12u4: dpkg: error processing package libc6"},
		{Level: "info", Message: "in-place db-2: installed libc6 2.36-9+deb12u3 → 2.36-9+deb12u4"},
		{Level: "info", Message: "in-place db-2: reboot wanted by libc6: not rebooted (reboot policy never)"},
	}
	var got []JobEvent
	for _, e := range done.Events {
		for _, w := range want {
			if e.Message == w.Message {
				got = append(got, JobEvent{Level: e.Level, Message: e.Message})
			}
		}
	}
	require.Equal(t, want, got, "the outcome lines, in order, among the job's events: %+v", done.Events)
	require.Equal(t, 5, done.Installed, "4 security updates and the Docker engine")
	require.Equal(t, 1, done.Failed)
}

// A reboot nobody wanted (policy always) says so; a server that never reached the reboot
// phase says nothing about one.
func TestServerOutcomeReboots(t *testing.T) {
	t.Parallel()
	always := inplace.ServerResult{Server: inplace.Server{Name: "s-0"},
		Reboot: &inplace.RebootResult{Policy: inplace.RebootAlways, Done: true, Via: "nova", Downtime: 3 * time.Second}}
	require.Equal(t, []OutcomeLine{{Level: "info", Message: "in-place s-0: reboot (policy always): rebooted through nova, downtime 3s"}}, ServerOutcome(always))
	wantedNoList := inplace.ServerResult{Server: inplace.Server{Name: "s-1"},
		Reboot: &inplace.RebootResult{Policy: inplace.RebootIfRequired, Wanted: true, Done: true, Via: "nova", Downtime: time.Second}}
	require.Equal(t, []OutcomeLine{{Level: "info", Message: "in-place s-1: reboot wanted by an upgrade (/var/run/reboot-required): rebooted through nova, downtime 1s"}},
		ServerOutcome(wantedNoList))
	require.Empty(t, ServerOutcome(inplace.ServerResult{Server: inplace.Server{Name: "s-2"}, Reboot: &inplace.RebootResult{Policy: inplace.RebootIfRequired}}))
	require.Empty(t, ServerOutcome(inplace.ServerResult{Server: inplace.Server{Name: "s-3"}, Status: inplace.StatusFailed, Phase: inplace.PhasePreflight}))
}
