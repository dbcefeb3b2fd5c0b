package debian

import (
	"context"
	"fmt"
)

// Paths of the unattended-upgrades configuration remint writes.
const (
	AutoUpgradesPath = "/etc/apt/apt.conf.d/20auto-upgrades"
	// OriginsPath sorts after Debian's stock 50unattended-upgrades, so its #clear drops
	// the stock origins (which also allow the point-release suite) and only the security
	// origins remain.
	OriginsPath = "/etc/apt/apt.conf.d/52remint-security-only"
)

// SecurityOriginsPatterns are the Origins-Pattern entries that mean "security update" on
// Debian, as Debian's stock 50unattended-upgrades writes them: the security suite
// (bookworm-security, label Debian-Security) and the old-style codename form.
var SecurityOriginsPatterns = []string{
	"origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
	"origin=Debian,codename=${distro_codename},label=Debian-Security",
}

// AutoUpgradesConf turns on the daily package-list update and unattended upgrade (what
// `dpkg-reconfigure unattended-upgrades` writes).
const AutoUpgradesConf = `// Written by remint: refresh package lists and run unattended-upgrade daily.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
`

// OriginsConf restricts unattended-upgrades to the security origins and leaves reboots
// to remint's reboot policy.
func OriginsConf() string {
	s := `// Written by remint: unattended-upgrades installs security updates only.
// Reboots are remint's decision (remint inplace --reboot), never unattended.
#clear Unattended-Upgrade::Origins-Pattern;
#clear Unattended-Upgrade::Allowed-Origins;
Unattended-Upgrade::Origins-Pattern {
`
	for _, p := range SecurityOriginsPatterns {
		s += fmt.Sprintf("        %q;\n", p)
	}
	s += `};
Unattended-Upgrade::Automatic-Reboot "false";
`
	return s
}

// ConfigureUnattendedUpgrades writes the two files for daily security-only upgrades,
// leaving files that already hold the wanted content untouched. It returns the paths it
// changed (none on a second run).
func ConfigureUnattendedUpgrades(ctx context.Context, r Runner) (changed []string, err error) {
	for _, f := range []struct{ path, content string }{
		{AutoUpgradesPath, AutoUpgradesConf},
		{OriginsPath, OriginsConf()},
	} {
		c, err := WriteFile(ctx, r, f.path, f.content, "0644")
		if err != nil {
			return changed, fmt.Errorf("configure unattended-upgrades: %w", err)
		}
		if c {
			changed = append(changed, f.path)
		}
	}
	return changed, nil
}
