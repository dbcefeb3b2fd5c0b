package aptrepo

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildPackageReadByDpkgDeb(t *testing.T) {
	t.Parallel()
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	postinst, err := RebootRequiredPostinst("demo-libssl")
	require.NoError(t, err)
	spec := PackageSpec{
		Name: "demo-libssl", Version: "1:1.0-1+deb12u1", Depends: []string{"libc6 (>= 2.36)", "aa | bb"},
		Description: "demo library\nFirst line.\n\nAfter a blank line.",
		Files: map[string][]byte{
			"/usr/share/demo-libssl/version": []byte("1.0-1+deb12u1\n"),
			"/usr/bin/demo-ssl":              []byte("#!/bin/sh\necho hi\n"),
			"/etc/demo-libssl.conf":          make([]byte, 3000),
		},
		Modes:    map[string]os.FileMode{"/usr/bin/demo-ssl": 0o755},
		Postinst: postinst,
		OutDir:   t.TempDir(),
	}
	deb, err := BuildPackage(t.Context(), spec)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(deb, "/demo-libssl_1.0-1+deb12u1_all.deb"), deb)

	info := run(t, nil, dpkgDeb, "-I", deb)
	for _, want := range []string{
		" Package: demo-libssl", " Version: 1:1.0-1+deb12u1", " Architecture: all",
		" Depends: libc6 (>= 2.36), aa | bb", " Description: demo library", "  First line.", "  .",
		// 5 directories (etc usr usr/bin usr/share usr/share/demo-libssl) count 1 KiB each,
		// files round up: 3000 B -> 3, 18 B -> 1, 14 B -> 1.
		" Installed-Size: 10",
		" Section: misc", " Priority: optional", " Maintainer: remint <archive@remint.invalid>",
		" postinst ", " conffiles ", " md5sums ",
	} {
		assert.Contains(t, info, want)
	}
	contents := run(t, nil, dpkgDeb, "-c", deb)
	assert.Contains(t, contents, "-rwxr-xr-x root/root        18 2023-06-10 00:00 ./usr/bin/demo-ssl")
	assert.Contains(t, contents, "-rw-r--r-- root/root      3000 2023-06-10 00:00 ./etc/demo-libssl.conf")
	assert.Contains(t, contents, "drwxr-xr-x root/root         0 2023-06-10 00:00 ./usr/share/demo-libssl/")

	script := run(t, nil, dpkgDeb, "-I", deb, "postinst")
	assert.Equal(t, postinst, script)
	run(t, nil, "sh", "-n", "-c", script) // dpkg runs it with /bin/sh: it must parse
	assert.Equal(t, "/etc/demo-libssl.conf\n", run(t, nil, dpkgDeb, "-I", deb, "conffiles"))

	// The control file as the repository reads it back.
	ctrl, err := readDebControl(t.Context(), deb)
	require.NoError(t, err)
	assert.Equal(t, "demo-libssl", ctrl.Value("Package"))
	assert.Equal(t, "1:1.0-1+deb12u1", ctrl.Value("Version"))

	// Reproducible: the same spec builds the same bytes.
	again := spec
	again.OutDir = t.TempDir()
	deb2, err := BuildPackage(t.Context(), again)
	require.NoError(t, err)
	assert.Equal(t, readFile(t, deb), readFile(t, deb2))
}

func TestBuildPackageRejectsBadInput(t *testing.T) {
	t.Parallel()
	base := PackageSpec{Name: "demo", Version: "1.0-1", OutDir: t.TempDir()}
	for name, tc := range map[string]struct {
		mut  func(*PackageSpec)
		want string
	}{
		"name":        {func(s *PackageSpec) { s.Name = "Demo;rm -rf" }, `package name "Demo;rm -rf"`},
		"version":     {func(s *PackageSpec) { s.Version = "1.0 && id" }, `version "1.0 && id"`},
		"arch":        {func(s *PackageSpec) { s.Architecture = "arm64" }, `architecture "arm64"`},
		"depends":     {func(s *PackageSpec) { s.Depends = []string{"libc6\nEvil: yes"} }, `depends "libc6\nEvil: yes"`},
		"path":        {func(s *PackageSpec) { s.Files = map[string][]byte{"../etc/passwd": nil} }, `path "../etc/passwd"`},
		"unclean":     {func(s *PackageSpec) { s.Files = map[string][]byte{"/usr/../etc/x": nil} }, `path "/usr/../etc/x"`},
		"mode":        {func(s *PackageSpec) { s.Modes = map[string]os.FileMode{"/nope": 0o755} }, `"/nope"`},
		"maintainer":  {func(s *PackageSpec) { s.Maintainer = "me\nEvil: x <a@b>" }, `maintainer`},
		"description": {func(s *PackageSpec) { s.Description = "ok\nline\x1b[31m" }, `description line`},
		"synopsis":    {func(s *PackageSpec) { s.Description = "\nlong" }, `synopsis`},
	} {
		t.Run(name, func(t *testing.T) {
			spec := base
			tc.mut(&spec)
			_, err := BuildPackage(t.Context(), spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
