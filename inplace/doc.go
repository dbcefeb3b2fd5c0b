// Package inplace is remint's fallback for servers that cannot be rebuilt: it patches
// them where they stand, over SSH, the way a careful operator would, and reports what it
// did and what it cost.
//
// One server goes through phases, each in its own file: preflight (apt/dpkg locks with
// a bounded wait, free disk, dpkg --audit), security (refresh the package lists, install
// the pending security updates and only those, set up unattended-upgrades for daily
// security-only upgrades), docker (the engine to the manifest's pinned version, read
// and verified through the Docker Engine API over the SSH connection, running containers
// brought back), weave (the pinned launch script, checksum-verified, stop/launch) and
// reboot (never / if-required / always, through the cloud's reboot, downtime measured
// until the group's health check passes).
//
// Across servers, Roll (roll.go) is the pure rolling plan: at most Concurrency servers
// at once, and no new server once more than the error budget has failed; servers in
// progress finish. Run (run.go) drives it and records every server's progress through a
// Journal, so a killed run can be resumed or reported.
//
// The Debian knowledge lives in internal/debian; this package decides what to do with it.
// Entry point: Run.
package inplace
