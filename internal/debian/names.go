package debian

import (
	"fmt"
	"regexp"
)

// Debian policy §5.6.1 (package names) and §5.6.12 (versions), strictly: nothing that
// could be read as an option or a shell metacharacter gets through.
var (
	packageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// [epoch:]upstream[-revision]; upstream starts with a digit.
	versionRE = regexp.MustCompile(`^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
)

// ValidPackageName checks a Debian package name (policy 5.6.1).
func ValidPackageName(name string) error {
	if len(name) > 128 || !packageNameRE.MatchString(name) {
		return fmt.Errorf("invalid Debian package name %q: lowercase letters, digits, '+', '-', '.', at least two characters, starting with a letter or digit", name)
	}
	return nil
}

// ValidVersion checks a Debian version (policy 5.6.12): optional "epoch:", an upstream
// part starting with a digit, an optional "-revision".
func ValidVersion(v string) error {
	if len(v) > 128 || !versionRE.MatchString(v) {
		return fmt.Errorf("invalid Debian version %q: [epoch:]upstream[-revision], upstream starting with a digit, only letters, digits and . + ~ : -", v)
	}
	return nil
}

// pin renders name=version after validating both.
func pin(name, version string) (string, error) {
	if err := ValidPackageName(name); err != nil {
		return "", err
	}
	if err := ValidVersion(version); err != nil {
		return "", fmt.Errorf("package %s: %w", name, err)
	}
	return name + "=" + version, nil
}
