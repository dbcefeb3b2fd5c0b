//go:build !linux

package workload

import "net"

// drainBacklog is Linux-only; elsewhere connections still in the backlog when a workload
// shuts down are reset, as with any server that closes its socket.
func drainBacklog(net.Listener) []net.Conn { return nil }
