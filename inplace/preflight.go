package inplace

import (
	"context"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/debian"
)

// preflight checks what an operator checks before touching apt: nobody else is running
// apt or dpkg (waiting a bounded time for a running unattended-upgrade), apt's cache has
// room, and dpkg's state is sound.
func preflight(ctx context.Context, c Conn, o Options, now func() time.Time) error {
	if err := debian.WaitForLocks(ctx, c, o.LockTimeout, now); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	free, err := debian.FreeBytes(ctx, c, "/var/cache/apt/archives")
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if free < o.MinFreeBytes {
		return fmt.Errorf("preflight: only %d MiB free for apt's cache (/var/cache/apt/archives), want at least %d MiB", free>>20, o.MinFreeBytes>>20)
	}
	audit, err := debian.Audit(ctx, c)
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if audit != "" {
		return fmt.Errorf("preflight: dpkg reports a broken package state (dpkg --audit); repair it first (e.g. dpkg --configure -a): %s", oneLine(audit, 300))
	}
	return nil
}

// oneLine squeezes multi-line output into one line of at most n bytes.
func oneLine(s string, n int) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' || c == '\t' || c == ' ' || c == '\r' {
			space = true
			continue
		}
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = append(b, c)
	}
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
