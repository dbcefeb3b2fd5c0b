package debian

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// RebootRequired is what /var/run/reboot-required and its .pkgs say.
type RebootRequired struct {
	Required bool     `json:"required"`
	Packages []string `json:"packages,omitempty"` // the packages that asked, each once, sorted
}

// rebootScript prints "reboot-required" when the flag file exists, then the .pkgs lines.
const rebootScript = `if [ -e /var/run/reboot-required ]; then echo reboot-required; cat /var/run/reboot-required.pkgs 2>/dev/null || true; fi`

// ParseRebootRequired reads rebootScript's output.
func ParseRebootRequired(out string) RebootRequired {
	lines := strings.Split(out, "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "reboot-required" {
		return RebootRequired{}
	}
	rr := RebootRequired{Required: true}
	for _, l := range lines[1:] {
		if p := strings.TrimSpace(l); p != "" && !slices.Contains(rr.Packages, p) {
			rr.Packages = append(rr.Packages, p)
		}
	}
	slices.Sort(rr.Packages)
	return rr
}

// ReadRebootRequired reports whether the host wants a reboot and which packages asked.
func ReadRebootRequired(ctx context.Context, r Runner) (RebootRequired, error) {
	res, err := run(ctx, r, "sh", "-c", rebootScript)
	if err != nil {
		return RebootRequired{}, fmt.Errorf("read /var/run/reboot-required: %w", err)
	}
	return ParseRebootRequired(res.Stdout), nil
}
