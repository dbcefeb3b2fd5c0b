// Package remote is how remint logs in to servers over SSH — for `remint ssh`, command
// health checks, in-place upgrades and image builds — and how it decides to trust a host.
// Nothing else in remint dials SSH or reads host keys.
//
// # Entry point
//
// An Access holds the user, the private key (LoadSigner: a file, or the file named by
// $REMINT_SSH_KEY) and the trust policy. Access.DialServer connects to a server's fixed
// address, Access.DialAddress to any address (fixed or floating), Access.WaitForSSH waits
// for a freshly booted or rebooted server, and Access.Runner runs health checks. A Client
// runs commands (Run, Stream, Exec with stdin), uploads files (Upload, atomically, with
// sh and coreutils only) and forwards connections (DialContext, e.g. to the Docker socket).
// Dial with a Config is the low-level form for callers that already hold the keys.
//
// # How remint trusts a host
//
// Exactly one of these, chosen by the operator:
//
//  1. Console keys (the default). At first boot cloud-init prints the server's SSH host
//     keys to its serial console between "-----BEGIN SSH HOST KEY FINGERPRINTS-----" and
//     "-----BEGIN SSH HOST KEY KEYS-----" blocks. remint reads the console log through the
//     cloud API (HostKeysFromConsole) and accepts only those keys. The console is captured by
//     the hypervisor and read over the authenticated cloud API, not over the network SSH
//     uses, so a host that answers on the server's address but is not the server cannot pass. Right after boot the keys may
//     not be there yet: the console is read again until they appear or a deadline passes
//     (Access.ConsoleWait, or WaitForSSH's timeout). Keys found are cached per server id.
//  2. A known_hosts file (--known-hosts), which replaces console trust entirely; for servers
//     whose console no longer holds the first-boot output, or hosts remint did not boot.
//  3. No verification, only on explicit request (--insecure-ignore-host-key); every Access
//     that does it logs a warning.
//
// A floating address moves between servers, so it is never trusted by itself: on every
// DialAddress the cloud is asked which server it is associated with now, and only that
// server's console keys pass. After a failover address moves, the old server's key is
// refused at that address. A fixed address is remembered with its server; if it offers a
// different key, the cloud is asked again once (the address may belong to a new server).
//
// On a mismatch the connection is refused with a *HostKeyMismatchError naming the key
// offered and the keys expected. It is never retried (WaitForSSH returns it at once) and
// never "learned": a changed key means a different machine or a man in the middle.
//
// Commands are argv slices, quoted for the remote shell by Quote; nothing a user typed is
// ever pasted into a shell string. Private keys are never printed or logged.
package remote
