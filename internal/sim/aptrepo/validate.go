package aptrepo

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Debian policy §5.6.1 (Source/Package) and §5.6.12 (Version), kept strict: these values
// end up in file names, control files and command lines.
var (
	packageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// [epoch:]upstream[-revision]; upstream starts with a digit; hyphens only when a
	// revision follows; no colons outside the epoch.
	versionRE = regexp.MustCompile(`^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~]*(?:-[A-Za-z0-9.+~-]*[A-Za-z0-9.+~])?$`)
	archRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	// One relation: name[:arch] [(op version)] [[arch list]], alternatives joined by "|".
	relationRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?: ?\((?:<<|<=|=|>=|>>) ?(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*\))?$`)
	// Maintainer: "Name <address>", printable, no newlines.
	maintainerRE = regexp.MustCompile(`^[^<>\n\r]+ <[^<>\s]+@[^<>\s]+>$`)
	sectionRE    = regexp.MustCompile(`^(?:[a-z0-9-]+/)?[a-z0-9][a-z0-9+.-]*$`)
	priorityRE   = regexp.MustCompile(`^(?:required|important|standard|optional|extra)$`)
)

// ValidatePackageName reports whether name is a Debian binary package name.
func ValidatePackageName(name string) error {
	if !packageNameRE.MatchString(name) {
		return fmt.Errorf("package name %q: want lowercase letters, digits, '+', '-', '.', at least 2 characters, starting alphanumeric (Debian policy 5.6.1)", name)
	}
	return nil
}

// ValidateVersion reports whether v is a Debian version ([epoch:]upstream[-revision]).
func ValidateVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q: want [epoch:]upstream[-revision], upstream starting with a digit, only letters, digits and . + ~ (and - before a revision) (Debian policy 5.6.12)", v)
	}
	return nil
}

// ValidateRelations checks a Depends-style list: each element is one relation or
// alternatives separated by "|", e.g. "libc6 (>= 2.36)" or "a | b".
func ValidateRelations(field string, rels []string) error {
	for _, rel := range rels {
		for alt := range strings.SplitSeq(rel, "|") {
			alt = strings.TrimSpace(alt)
			if !relationRE.MatchString(alt) {
				return fmt.Errorf("%s %q: want name[:arch] [(op version)] with op one of << <= = >= >>", field, rel)
			}
		}
	}
	return nil
}

// debFileVersion is the version as it appears in a .deb file name: dpkg drops the epoch.
func debFileVersion(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		return rest
	}
	return v
}

// poolDir is the directory of a package in the pool, following Debian's layout:
// pool/main/<first letter, or libX for lib*>/<name>.
func poolDir(name string) string {
	prefix := name[:1]
	if strings.HasPrefix(name, "lib") && len(name) > 3 {
		prefix = name[:4]
	}
	return path.Join("pool", "main", prefix, name)
}

// cleanPackagePath validates a path inside a package's data: absolute, clean, not "/".
func cleanPackagePath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" || strings.ContainsAny(p, "\x00\n\r") {
		return "", fmt.Errorf("package file path %q: want a clean absolute path like /usr/share/doc/x/README", p)
	}
	return p, nil
}

// validateText rejects values that would break a control file (newlines, control chars).
func validateText(field, v string) error {
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q: control characters and newlines are not allowed", field, v)
		}
	}
	return nil
}
