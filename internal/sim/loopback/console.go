package loopback

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// maxConsoleLines bounds a server's console buffer; the oldest lines are dropped.
const maxConsoleLines = 2000

// console is a server's serial console: what a Debian cloud image prints while booting.
type console struct {
	now func() time.Time

	mu     sync.Mutex
	lines  []string
	bootAt time.Time // start of the current boot, for the "Up N seconds" and [ t ] stamps
}

func (c *console) printf(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, fmt.Sprintf(format, a...))
	if over := len(c.lines) - maxConsoleLines; over > 0 {
		c.lines = append(c.lines[:0], c.lines[over:]...)
	}
}

// kernel prints a kernel-style line stamped with seconds since boot.
func (c *console) kernel(format string, a ...any) {
	c.printf("[%12.6f] %s", c.uptime().Seconds(), fmt.Sprintf(format, a...))
}

func (c *console) uptime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now().Sub(c.bootAt)
}

// cloudInit prints cloud-init's stage banner.
func (c *console) cloudInit(stage string) {
	c.printf("Cloud-init v. 23.1 running '%s' at %s. Up %.2f seconds.",
		stage, c.now().UTC().Format(time.RFC1123Z), c.uptime().Seconds())
}

// powerOn starts a new boot: the uptime clock restarts.
func (c *console) powerOn() {
	c.mu.Lock()
	c.bootAt = c.now()
	c.mu.Unlock()
	c.kernel("Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1")
	c.kernel("Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-cloud-amd64 root=LABEL=cloudimg-rootfs ro console=tty0 console=ttyS0,115200")
	c.kernel("remint loopback driver: this server is a process, not a VM")
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return ""
	}
	return strings.Join(c.lines, "\n") + "\n"
}
