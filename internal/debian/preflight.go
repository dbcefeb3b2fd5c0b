package debian

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-retry"
)

// LockFiles are the locks apt and dpkg take (fcntl locks), in the order apt takes them.
var LockFiles = []string{
	"/var/lib/dpkg/lock-frontend",
	"/var/lib/dpkg/lock",
	"/var/lib/apt/lists/lock",
	"/var/cache/apt/archives/lock",
}

// lockScript asks the kernel (F_GETLK) who holds a write lock on each file and prints
// "PATH PID COMMAND" per held lock. It takes no lock itself. python3 is on every Debian
// cloud image (cloud-init and unattended-upgrades need it).
const lockScript = `
import fcntl, os, struct, sys
for p in sys.argv[1:]:
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:
        continue
    try:
        r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
    finally:
        os.close(fd)
    typ, _, _, _, pid = struct.unpack("hhqqi", r[:struct.calcsize("hhqqi")])
    if typ == fcntl.F_UNLCK:
        continue
    cmd = "?"
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip() or "?"
    except OSError:
        pass
    print(p, pid, cmd)
`

// LockHolder is a process holding one of apt's or dpkg's locks.
type LockHolder struct {
	Path    string `json:"path"`
	PID     int    `json:"pid"`
	Command string `json:"command"`
}

func (h LockHolder) String() string {
	return fmt.Sprintf("%s held by pid %d (%s)", h.Path, h.PID, h.Command)
}

// ParseLockHolders reads lockScript's output.
func ParseLockHolders(out string) []LockHolder {
	var hs []LockHolder
	for _, l := range strings.Split(out, "\n") {
		f := strings.SplitN(strings.TrimSpace(l), " ", 3)
		if len(f) < 2 {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		h := LockHolder{Path: f[0], PID: pid}
		if len(f) == 3 {
			h.Command = f[2]
		}
		hs = append(hs, h)
	}
	return hs
}

// LockHolders lists the processes holding apt's or dpkg's locks now.
func LockHolders(ctx context.Context, r Runner) ([]LockHolder, error) {
	res, err := run(ctx, r, sudo(append([]string{"python3", "-c", lockScript}, LockFiles...)...)...)
	if err != nil {
		return nil, fmt.Errorf("check apt/dpkg locks: %w", err)
	}
	return ParseLockHolders(res.Stdout), nil
}

// LockedError says apt's or dpkg's locks stayed held longer than remint waits.
type LockedError struct {
	Waited  time.Duration
	Holders []LockHolder
}

func (e *LockedError) Error() string {
	hs := make([]string, len(e.Holders))
	for i, h := range e.Holders {
		hs[i] = h.String()
	}
	return fmt.Sprintf("apt/dpkg is busy: still locked after waiting %s: %s (an unattended-upgrade run usually finishes within minutes; retry later or raise --lock-timeout)",
		e.Waited, strings.Join(hs, "; "))
}

// WaitForLocks waits until no process holds apt's or dpkg's locks (a running
// unattended-upgrade, say), checking every few seconds for at most limit.
func WaitForLocks(ctx context.Context, r Runner, limit time.Duration, now func() time.Time) error {
	start := now()
	var last []LockHolder
	b := retry.WithMaxDuration(limit, retry.WithCappedDuration(5*time.Second, retry.NewExponential(500*time.Millisecond)))
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		hs, err := LockHolders(ctx, r)
		if err != nil {
			return err
		}
		last = hs
		if len(hs) > 0 {
			return retry.RetryableError(errLocked)
		}
		return nil
	})
	if errors.Is(err, errLocked) {
		return &LockedError{Waited: now().Sub(start).Round(time.Second), Holders: last}
	}
	return err
}

var errLocked = errors.New("locked")

// ParseDFAvailable reads `df -Pk PATH` and returns the available bytes of its filesystem.
func ParseDFAvailable(out string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("df output has no data line: %q", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, fmt.Errorf("df line %q: want 6 fields", lines[len(lines)-1])
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("df line %q: available: %w", lines[len(lines)-1], err)
	}
	return kb * 1024, nil
}

// FreeBytes is the space available on the filesystem holding path.
func FreeBytes(ctx context.Context, r Runner, path string) (int64, error) {
	res, err := run(ctx, r, "env", "LANG=C", "df", "-Pk", "--", path)
	if err != nil {
		return 0, fmt.Errorf("free space on %s: %w", path, err)
	}
	return ParseDFAvailable(res.Stdout)
}

// Audit runs `dpkg --audit` and returns what it reports: packages half-installed,
// unpacked but not configured, and so on. Empty means dpkg's state is sound.
func Audit(ctx context.Context, r Runner) (string, error) {
	// As root: with a problem to report, dpkg checks its lock, which needs root.
	res, err := r.Run(ctx, sudo("env", "LANG=C", "dpkg", "--audit"))
	if err != nil {
		return "", fmt.Errorf("dpkg --audit: %w", err)
	}
	out := strings.TrimSpace(res.Stdout)
	if res.ExitStatus != 0 && out == "" {
		return "", fmt.Errorf("dpkg --audit: %w", res.Err())
	}
	return out, nil
}
