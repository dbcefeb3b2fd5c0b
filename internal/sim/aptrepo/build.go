package aptrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/atomicfile"
)

// PackageSpec describes a binary package to build. Name and Version are required and
// validated against Debian policy; everything else has a default.
type PackageSpec struct {
	Name         string
	Version      string
	Architecture string   // "all" (default) or "amd64"
	Maintainer   string   // default "remint <archive@remint.invalid>"
	Section      string   // default "misc"
	Priority     string   // default "optional"
	Depends      []string // relations, e.g. "libc6 (>= 2.36)", "a | b"
	// Description's first line is the synopsis; further lines are the extended
	// description. Default: "<name>, built by remint".
	Description string
	// Files maps absolute paths in the installed system to their content.
	Files map[string][]byte
	// Modes gives file modes by path; files default to 0644, directories are 0755.
	Modes map[string]fs.FileMode
	// Postinst is the postinst maintainer script; "#!/bin/sh\nset -e\n" is prepended when
	// it has no "#!" line. Empty means no postinst.
	Postinst string
	// OutDir is where the .deb is written; empty means a new directory under os.TempDir()
	// that the caller owns.
	OutDir string
	// ModTime stamps every archive member; zero means a fixed date so that the same spec
	// always builds the same bytes.
	ModTime time.Time
}

// defaultModTime is Debian 12's release date: builds are reproducible by default.
var defaultModTime = time.Date(2023, 6, 10, 0, 0, 0, 0, time.UTC)

// RebootRequiredPostinst returns a postinst that flags a reboot the way Debian's libc6 and
// update-notifier-common do: touch /var/run/reboot-required and add pkg to
// /var/run/reboot-required.pkgs once. pkg must be a valid package name.
func RebootRequiredPostinst(pkg string) (string, error) {
	if err := ValidatePackageName(pkg); err != nil {
		return "", err
	}
	// pkg matches [a-z0-9+.-]+, so it needs no quoting inside the script.
	return "#!/bin/sh\nset -e\n" +
		"if [ \"$1\" = configure ]; then\n" +
		"\ttouch /var/run/reboot-required\n" +
		"\tgrep -qxF " + pkg + " /var/run/reboot-required.pkgs 2>/dev/null || echo " + pkg + " >> /var/run/reboot-required.pkgs\n" +
		"fi\n", nil
}

// control renders and validates the control file of spec (defaults applied).
func (spec PackageSpec) control(installedSizeKiB int64) (Paragraph, error) {
	if err := ValidatePackageName(spec.Name); err != nil {
		return nil, err
	}
	if err := ValidateVersion(spec.Version); err != nil {
		return nil, err
	}
	arch := orDefault(spec.Architecture, archAll)
	if arch != archAll && arch != archAmd64 {
		return nil, fmt.Errorf("architecture %q: the repository carries only %s and %s", arch, archAll, archAmd64)
	}
	maint := orDefault(spec.Maintainer, "remint <archive@remint.invalid>")
	if !maintainerRE.MatchString(maint) {
		return nil, fmt.Errorf("maintainer %q: want \"Name <address>\"", maint)
	}
	section := orDefault(spec.Section, "misc")
	if !sectionRE.MatchString(section) {
		return nil, fmt.Errorf("section %q: want a Debian section like misc or libs", section)
	}
	priority := orDefault(spec.Priority, "optional")
	if !priorityRE.MatchString(priority) {
		return nil, fmt.Errorf("priority %q: want required, important, standard or optional", priority)
	}
	if err := ValidateRelations("depends", spec.Depends); err != nil {
		return nil, err
	}
	desc, err := formatDescription(orDefault(spec.Description, spec.Name+", built by remint"))
	if err != nil {
		return nil, err
	}
	p := Paragraph{
		{"Package", spec.Name},
		{"Version", spec.Version},
		{"Architecture", arch},
		{"Maintainer", maint},
		{"Installed-Size", fmt.Sprint(installedSizeKiB)},
	}
	if len(spec.Depends) > 0 {
		p = append(p, Field{"Depends", strings.Join(spec.Depends, ", ")})
	}
	return append(p,
		Field{"Section", section},
		Field{"Priority", priority},
		Field{"Description", desc},
	), nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// formatDescription turns "synopsis\nlong text..." into a control-file value: extended
// lines are indented by one space and empty lines become " .".
func formatDescription(d string) (string, error) {
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	if strings.TrimSpace(lines[0]) == "" {
		return "", fmt.Errorf("description %q: the first line (synopsis) is empty", d)
	}
	var b strings.Builder
	for i, l := range lines {
		if err := validateText("description line", strings.ReplaceAll(l, "\t", " ")); err != nil {
			return "", err
		}
		if i == 0 {
			b.WriteString(strings.TrimSpace(l))
			continue
		}
		b.WriteString("\n ")
		if strings.TrimSpace(l) == "" {
			b.WriteString(".")
		} else {
			b.WriteString(l)
		}
	}
	return b.String(), nil
}

// BuildPackage writes spec as a .deb (ar archive of debian-binary, control.tar.gz and
// data.tar.gz, files owned by root) and returns its path. It needs no external tools.
func BuildPackage(ctx context.Context, spec PackageSpec) (debPath string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	data, installedKiB, md5sums, conffiles, err := buildData(spec)
	if err != nil {
		return "", fmt.Errorf("build package %s: %w", spec.Name, err)
	}
	ctrl, err := spec.control(installedKiB)
	if err != nil {
		return "", fmt.Errorf("build package: %w", err)
	}
	mtime := spec.ModTime
	if mtime.IsZero() {
		mtime = defaultModTime
	}
	members := []tarMember{
		{name: "./control", mode: 0o644, data: []byte(ctrl.String())},
		{name: "./md5sums", mode: 0o644, data: md5sums},
	}
	if len(conffiles) > 0 {
		members = append(members, tarMember{name: "./conffiles", mode: 0o644, data: conffiles})
	}
	if spec.Postinst != "" {
		script := spec.Postinst
		if !strings.HasPrefix(script, "#!") {
			script = "#!/bin/sh\nset -e\n" + script
		}
		if !strings.HasSuffix(script, "\n") {
			script += "\n"
		}
		members = append(members, tarMember{name: "./postinst", mode: 0o755, data: []byte(script)})
	}
	control, err := tarGz(members, mtime)
	if err != nil {
		return "", fmt.Errorf("build package %s: control archive: %w", spec.Name, err)
	}
	dataTar, err := tarGz(data, mtime)
	if err != nil {
		return "", fmt.Errorf("build package %s: data archive: %w", spec.Name, err)
	}

	var deb bytes.Buffer
	deb.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar.gz", control},
		{"data.tar.gz", dataTar},
	} {
		// ar member header: name/16 mtime/12 uid/6 gid/6 mode/8 size/10 magic "`\n".
		fmt.Fprintf(&deb, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.name, mtime.Unix(), 0, 0, 0o100644, len(m.data))
		deb.Write(m.data)
		if len(m.data)%2 == 1 {
			deb.WriteByte('\n')
		}
	}

	dir := spec.OutDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "remint-deb-*"); err != nil {
			return "", fmt.Errorf("build package %s: %w", spec.Name, err)
		}
	}
	debPath = filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", spec.Name, debFileVersion(spec.Version), ctrl.Value("Architecture")))
	if err := atomicfile.Write(debPath, deb.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("build package %s: write %s: %w", spec.Name, debPath, err)
	}
	return debPath, nil
}

type tarMember struct {
	name string
	mode fs.FileMode
	dir  bool
	data []byte
}

// buildData lays out the package's files with their parent directories, and computes
// Installed-Size the way dpkg-gencontrol does (KiB per file rounded up, 1 per directory),
// the md5sums control file and conffiles (every file under /etc, as debhelper marks them).
func buildData(spec PackageSpec) (members []tarMember, installedKiB int64, md5sums, conffiles []byte, err error) {
	paths := make([]string, 0, len(spec.Files))
	for p := range spec.Files {
		if _, err := cleanPackagePath(p); err != nil {
			return nil, 0, nil, nil, err
		}
		paths = append(paths, p)
	}
	for p := range spec.Modes {
		if _, ok := spec.Files[p]; !ok {
			return nil, 0, nil, nil, fmt.Errorf("mode given for %q, which is not among the package files", p)
		}
	}
	slices.Sort(paths)
	dirs := map[string]bool{}
	members = append(members, tarMember{name: "./", mode: 0o755, dir: true})
	var sums, confs strings.Builder
	for _, p := range paths {
		var parents []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		slices.Reverse(parents)
		for _, d := range parents {
			members = append(members, tarMember{name: "." + d + "/", mode: 0o755, dir: true})
			installedKiB++
		}
		mode := fs.FileMode(0o644)
		if m, ok := spec.Modes[p]; ok {
			mode = m.Perm()
		}
		content := spec.Files[p]
		members = append(members, tarMember{name: "." + p, mode: mode, data: content})
		installedKiB += (int64(len(content)) + 1023) / 1024
		sum := md5.Sum(content)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), strings.TrimPrefix(p, "/"))
		if strings.HasPrefix(p, "/etc/") {
			fmt.Fprintln(&confs, p)
		}
	}
	return members, installedKiB, []byte(sums.String()), []byte(confs.String()), nil
}

// tarGz writes members as a gzip-compressed tar owned by root:root.
func tarGz(members []tarMember, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, m := range members {
		h := &tar.Header{
			Name: m.name, Mode: int64(m.mode), ModTime: mtime,
			Uname: "root", Gname: "root", Typeflag: tar.TypeReg, Size: int64(len(m.data)),
			Format: tar.FormatGNU,
		}
		if m.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", m.name, err)
		}
		if _, err := io.Copy(tw, bytes.NewReader(m.data)); err != nil {
			return nil, fmt.Errorf("tar %s: %w", m.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
