package workload

import (
	"net"
	"os"
	"syscall"
)

// drainBacklog accepts, without waiting, every connection the kernel has completed on ln's
// socket but nobody has accepted yet.
func drainBacklog(ln net.Listener) []net.Conn {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var conns []net.Conn
	_ = rc.Control(func(fd uintptr) {
		for {
			nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			if err == syscall.EINTR || err == syscall.ECONNABORTED {
				continue
			}
			if err != nil {
				return // EAGAIN: the backlog is empty
			}
			f := os.NewFile(uintptr(nfd), "accepted")
			c, err := net.FileConn(f)
			_ = f.Close()
			if err == nil {
				conns = append(conns, c)
			}
		}
	})
	return conns
}
