package inplace

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/remint-dev/remint/internal/debian"
)

// securityPlan splits pending upgrades into the security updates to install (at the
// version unattended-upgrades would pick) and the rest, left alone. Pure.
func securityPlan(pending []debian.Upgrade) (install []debian.Pin, leftAlone []debian.Upgrade) {
	for _, u := range pending {
		if u.Security {
			install = append(install, debian.Pin{Name: u.Name, Version: u.SecurityVersion})
		} else {
			leftAlone = append(leftAlone, u)
		}
	}
	return install, leftAlone
}

// security installs the pending security updates and only those, then sets up
// unattended-upgrades so the server keeps itself patched. On a dry run it only reports.
func security(ctx context.Context, c Conn, o Options) (*SecurityResult, error) {
	if err := debian.Update(ctx, c, o.LockTimeout); err != nil {
		return nil, err
	}
	pending, err := debian.Pending(ctx, c)
	if err != nil {
		return nil, err
	}
	pins, leftAlone := securityPlan(pending)
	res := &SecurityResult{Installed: []Change{}, Failed: []Change{}, LeftAlone: leftAlone, Unattended: []string{}}
	if res.LeftAlone == nil {
		res.LeftAlone = []debian.Upgrade{}
	}
	from := map[string]string{}
	for _, u := range pending {
		from[u.Name] = u.Installed
	}
	if o.DryRun {
		for _, p := range pins {
			res.Installed = append(res.Installed, Change{Name: p.Name, From: from[p.Name], To: p.Version})
		}
		return res, nil
	}
	if len(pins) > 0 {
		failures := map[string]string{}
		if _, err := debian.Install(ctx, c, pins, debian.InstallOptions{LockTimeout: o.LockTimeout}); err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			// One package can break the batch: try each alone to learn which.
			for _, p := range pins {
				if _, err := debian.Install(ctx, c, []debian.Pin{p}, debian.InstallOptions{LockTimeout: o.LockTimeout}); err != nil {
					failures[p.Name] = oneLine(err.Error(), 300)
				}
			}
		}
		names := make([]string, len(pins))
		for i, p := range pins {
			names[i] = p.Name
		}
		now, err := debian.Versions(ctx, c, names)
		if err != nil {
			return res, err
		}
		for _, p := range pins {
			ch := Change{Name: p.Name, From: from[p.Name], To: p.Version}
			if now[p.Name] == p.Version {
				res.Installed = append(res.Installed, ch)
				continue
			}
			ch.Error = failures[p.Name]
			if ch.Error == "" {
				ch.Error = fmt.Sprintf("installed version is %q after apt ran", now[p.Name])
			}
			res.Failed = append(res.Failed, ch)
		}
	}
	changed, err := debian.ConfigureUnattendedUpgrades(ctx, c)
	if err != nil {
		return res, err
	}
	if changed != nil {
		res.Unattended = changed
	}
	if len(res.Failed) > 0 {
		var names []string
		for _, f := range res.Failed {
			names = append(names, f.Name+" "+f.To+": "+f.Error)
		}
		return res, errors.New("security updates failed: " + strings.Join(names, "; "))
	}
	return res, nil
}
