package aptrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// requireTool returns the path of an external program or an error saying what to install.
func requireTool(name, debianPackage string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in PATH: install the Debian package %s (apt-get install -y %s)", name, debianPackage, debianPackage)
	}
	return p, nil
}

// readDebControl returns the control file of a .deb. dpkg-deb reads every compression
// Debian uses (gzip, xz, zstd); Go's standard library does not read xz.
func readDebControl(ctx context.Context, debPath string) (Paragraph, error) {
	dpkgDeb, err := requireTool("dpkg-deb", "dpkg")
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(debPath) // never let a path look like an option
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, dpkgDeb, "--info", abs, "control")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read control file of %s with dpkg-deb: %w: %s", debPath, err, bytes.TrimSpace(stderr.Bytes()))
	}
	paras, err := ParseParagraphs(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("parse control file of %s: %w", debPath, err)
	}
	if len(paras) != 1 {
		return nil, fmt.Errorf("control file of %s: want one paragraph, got %d", debPath, len(paras))
	}
	ctrl := paras[0]
	if err := validateControl(ctrl); err != nil {
		return nil, fmt.Errorf("control file of %s: %w", debPath, err)
	}
	return ctrl, nil
}

// validateControl checks the fields the repository relies on.
func validateControl(ctrl Paragraph) error {
	var errs []error
	name, ok := ctrl.Get("Package")
	if !ok {
		errs = append(errs, errors.New("no Package field"))
	} else if err := ValidatePackageName(name); err != nil {
		errs = append(errs, err)
	}
	version, ok := ctrl.Get("Version")
	if !ok {
		errs = append(errs, errors.New("no Version field"))
	} else if err := ValidateVersion(version); err != nil {
		errs = append(errs, err)
	}
	switch arch := ctrl.Value("Architecture"); arch {
	case archAll, archAmd64:
	default:
		errs = append(errs, fmt.Errorf("architecture %q: the repository carries only %s and %s", arch, archAll, archAmd64))
	}
	return errors.Join(errs...)
}
