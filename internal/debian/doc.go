// Package debian is remint's knowledge of a Debian host, shared by the in-place upgrades
// (package inplace) and the image pipeline (package imagebuild): which upgrades are
// pending and from which origin, which of them are security updates (decided the way
// unattended-upgrades decides, by its Origins-Pattern), installing exact versions,
// /var/run/reboot-required and its .pkgs, the unattended-upgrades configuration for daily
// security-only upgrades, and the preflight checks an operator makes before touching apt
// (dpkg/apt locks, free disk, dpkg --audit).
//
// Everything runs through Runner, one method that runs an argv on the host (over SSH,
// *remote.Client satisfies it). Commands are fixed argv slices; package names and
// versions are validated (ValidPackageName, ValidVersion) before they become arguments,
// and nothing is pasted into a shell string. Output parsers are pure functions tested
// against output captured from real bookworm hosts (testdata/).
//
// This is not the simulator's apt repository (internal/sim/aptrepo): that one serves
// packages; this one is the client side.
package debian
