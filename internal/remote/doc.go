// Package remote runs commands on servers over SSH, for in-place upgrades, image builds and
// command health checks. Host keys are always verified unless the caller explicitly asks
// otherwise: against the keys a server printed to its console at first boot (as
// cloud-init does), or against a known_hosts file.
//
// Commands are argv slices, quoted for the remote shell by Quote; nothing a user typed is
// ever pasted into a shell string. Entry points: Dial, HostKeysFromConsole.
package remote
