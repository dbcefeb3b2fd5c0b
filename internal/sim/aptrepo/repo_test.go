package aptrepo

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/openpgp"
	"golang.org/x/crypto/openpgp/clearsign"
)

func TestReleaseFieldsAndHashes(t *testing.T) {
	t.Parallel()
	date := time.Date(2025, 5, 20, 8, 30, 0, 0, time.FixedZone("CEST", 7200))
	files := []indexFile{
		{Path: "main/binary-amd64/Packages.gz", Data: []byte("zz")},
		{Path: "main/binary-amd64/Packages", Data: []byte("Package: x\n")},
	}
	sec, err := suiteInfo(SuiteBookwormSecurity)
	require.NoError(t, err)
	paras, err := ParseParagraphs(bytes.NewReader(buildRelease(sec, date, files)))
	require.NoError(t, err)
	require.Len(t, paras, 1)
	rel := paras[0]
	for field, want := range map[string]string{
		"Origin": "Debian", "Label": "Debian-Security", "Suite": "stable-security", "Codename": "bookworm-security",
		"Date": "Tue, 20 May 2025 06:30:00 UTC", "Architectures": "all amd64", "Components": "main",
		"Acquire-By-Hash": "yes", "No-Support-for-Architecture-all": "Packages",
		// md5sum(1) of the same bytes
		"MD5Sum": "\n 632363117d5c737621919597a3cdd700       11 main/binary-amd64/Packages" +
			"\n 25ed1bcb423b0b7200f485fc5ff71c8e        2 main/binary-amd64/Packages.gz",
		"SHA256": "\n " + sha256Hex([]byte("Package: x\n")) + "       11 main/binary-amd64/Packages" +
			"\n " + sha256Hex([]byte("zz")) + "        2 main/binary-amd64/Packages.gz",
	} {
		assert.Equal(t, want, rel.Value(field), field)
	}
	_, hasValidUntil := rel.Get("Valid-Until")
	assert.False(t, hasValidUntil, "no Valid-Until: a long-running simulator must not expire")

	for dist, want := range map[string][4]string{
		SuiteBookworm:        {"Debian", "Debian", "stable", "bookworm"},
		SuiteBookwormUpdates: {"Debian", "Debian", "stable-updates", "bookworm-updates"},
	} {
		s, err := suiteInfo(dist)
		require.NoError(t, err)
		assert.Equal(t, want, [4]string{s.Origin, s.Label, s.Suite, s.Codename})
	}
	_, err = suiteInfo("sid")
	assert.ErrorContains(t, err, `suite "sid": want one of bookworm, bookworm-updates, bookworm-security`)
}

func TestPublishDemoIndicesAndSignatures(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	pkgs, err := r.PublishDemo(t.Context())
	require.NoError(t, err)
	require.Len(t, pkgs, 4)

	keyring, err := openpgp.ReadKeyRing(bytes.NewReader(mustBytes(t)(r.PublicKeyring())))
	require.NoError(t, err)
	armored, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(mustBytes(t)(r.PublicKeyArmored())))
	require.NoError(t, err)
	require.Len(t, keyring, 1)
	assert.Equal(t, keyring[0].PrimaryKey.Fingerprint, armored[0].PrimaryKey.Fingerprint)
	assert.Nil(t, keyring[0].PrivateKey, "the exported keyring must not hold the private key")
	assert.Equal(t, mustBytes(t)(r.PublicKeyring()), readFile(t, r.Dir(), "debian", "remint-archive-keyring.gpg"))

	want := map[string][]string{
		SuiteBookworm:         {"demo-libssl_1.0-1_all", "demo-tool_1.0-1_all"},
		SuiteBookwormSecurity: {"demo-libssl_1.0-1+deb12u1_all"},
		SuiteBookwormUpdates:  {"demo-tool_2.0-1_all"},
	}
	for _, s := range Suites {
		dist := filepath.Join(r.Dir(), "debian", "dists", s.Dist)
		release := readFile(t, dist, "Release")

		// InRelease is Release, clearsigned by the repository key.
		block, rest := clearsign.Decode(readFile(t, dist, "InRelease"))
		require.NotNil(t, block, s.Dist)
		assert.Empty(t, rest)
		assert.Equal(t, string(release), string(block.Plaintext))
		signer, err := openpgp.CheckDetachedSignature(keyring, bytes.NewReader(block.Bytes), block.ArmoredSignature.Body)
		require.NoError(t, err, s.Dist)
		assert.Equal(t, keyring[0].PrimaryKey.KeyId, signer.PrimaryKey.KeyId)
		// Release.gpg is a detached armoured signature of Release.
		_, err = openpgp.CheckArmoredDetachedSignature(keyring, bytes.NewReader(release), bytes.NewReader(readFile(t, dist, "Release.gpg")))
		require.NoError(t, err, s.Dist)
		// A tampered Release does not verify.
		_, err = openpgp.CheckArmoredDetachedSignature(keyring, bytes.NewReader(bytes.Replace(release, []byte("Debian"), []byte("Evil"), 1)), bytes.NewReader(readFile(t, dist, "Release.gpg")))
		require.Error(t, err)

		// Every index listed in Release has the listed size and hashes, also by hash.
		paras, err := ParseParagraphs(bytes.NewReader(release))
		require.NoError(t, err)
		assert.Equal(t, s.Label, paras[0].Value("Label"))
		sums := strings.Fields(paras[0].Value("SHA256"))
		require.Len(t, sums, 6, s.Dist)
		for i := 0; i < len(sums); i += 3 {
			data := readFile(t, dist, sums[i+2])
			assert.Equal(t, sums[i], sha256Hex(data), sums[i+2])
			assert.Equal(t, sums[i+1], fmt.Sprint(len(data)))
			assert.Equal(t, data, readFile(t, dist, filepath.Dir(sums[i+2]), "by-hash", "SHA256", sums[i]))
		}
		md5s := strings.Fields(paras[0].Value("MD5Sum"))
		assert.Equal(t, md5Hex(readFile(t, dist, md5s[2])), md5s[0])

		// Packages.gz is Packages; each stanza describes its pool file exactly.
		packages := readFile(t, dist, "main", "binary-amd64", "Packages")
		zr, err := gzip.NewReader(bytes.NewReader(readFile(t, dist, "main", "binary-amd64", "Packages.gz")))
		require.NoError(t, err)
		unz, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, packages, unz)
		stanzas, err := ParseParagraphs(bytes.NewReader(packages))
		require.NoError(t, err)
		var got []string
		for _, st := range stanzas {
			got = append(got, st.Value("Package")+"_"+st.Value("Version")+"_"+st.Value("Architecture"))
			for _, f := range []string{"Maintainer", "Installed-Size", "Section", "Priority", "Description"} {
				assert.NotEmpty(t, st.Value(f), "%s %s", st.Value("Package"), f)
			}
			deb := readFile(t, r.Dir(), "debian", st.Value("Filename"))
			assert.Equal(t, fmt.Sprint(len(deb)), st.Value("Size"))
			assert.Equal(t, md5Hex(deb), st.Value("MD5sum"))
			assert.Equal(t, sha256Hex(deb), st.Value("SHA256"))
		}
		assert.Equal(t, want[s.Dist], got, s.Dist)
	}
	sec, err := r.Packages(SuiteBookwormSecurity)
	require.NoError(t, err)
	assert.Equal(t, []Package{{Suite: SuiteBookwormSecurity, Name: "demo-libssl", Version: "1.0-1+deb12u1", Architecture: "all",
		Filename: "pool/main/d/demo-libssl/demo-libssl_1.0-1+deb12u1_all.deb", SHA256: sec[0].SHA256}}, sec)

	// Reproducible builds make publishing the demo again a no-op.
	before := readFile(t, r.Dir(), "debian", "dists", SuiteBookworm, "InRelease")
	_, err = r.PublishDemo(t.Context())
	require.NoError(t, err)
	assert.Equal(t, before, readFile(t, r.Dir(), "debian", "dists", SuiteBookworm, "InRelease"))
}

func mustBytes(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		require.NoError(t, err)
		return b
	}
}

func TestOpenReusesKeyAndPackages(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	dir := t.TempDir()
	r, err := Open(dir, Options{KeyBits: 2048})
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, "key", "signing-key.asc"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(filepath.Join(dir, "key"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), st.Mode().Perm())

	deb, err := BuildPackage(t.Context(), PackageSpec{Name: "kept", Version: "1.0-1", OutDir: t.TempDir()})
	require.NoError(t, err)
	_, err = r.Add(t.Context(), SuiteBookwormUpdates, deb)
	require.NoError(t, err)

	again, err := Open(dir, Options{KeyBits: 2048})
	require.NoError(t, err)
	assert.Equal(t, r.KeyFingerprint(), again.KeyFingerprint())
	assert.Len(t, again.KeyFingerprint(), 40)
	pkgs, err := again.Packages(SuiteBookwormUpdates)
	require.NoError(t, err)
	require.Len(t, pkgs, 1)
	assert.Equal(t, "kept", pkgs[0].Name)

	_, err = Open(t.TempDir(), Options{KeyBits: 1024})
	assert.ErrorContains(t, err, "key size 1024 bits")
}

func TestAddRefusesConflictsAndBadInput(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	one, err := BuildPackage(t.Context(), PackageSpec{Name: "demo", Version: "1.0-1", OutDir: t.TempDir()})
	require.NoError(t, err)
	other, err := BuildPackage(t.Context(), PackageSpec{Name: "demo", Version: "1.0-1", Description: "different", OutDir: t.TempDir()})
	require.NoError(t, err)

	_, err = r.Add(t.Context(), SuiteBookworm, one)
	require.NoError(t, err)
	_, err = r.Add(t.Context(), SuiteBookwormSecurity, one) // same file in another suite: fine
	require.NoError(t, err)
	_, err = r.Add(t.Context(), SuiteBookwormUpdates, other)
	assert.ErrorContains(t, err, "pool already holds pool/main/d/demo/demo_1.0-1_all.deb with different content")
	_, err = r.Add(t.Context(), "stable", one)
	assert.ErrorContains(t, err, `suite "stable"`)

	junk := filepath.Join(t.TempDir(), "junk.deb")
	require.NoError(t, os.WriteFile(junk, []byte("not a deb"), 0o644))
	_, err = r.Add(t.Context(), SuiteBookworm, junk)
	assert.ErrorContains(t, err, "junk.deb")
	_, err = r.Add(t.Context(), SuiteBookworm, filepath.Join(t.TempDir(), "missing.deb"))
	assert.Error(t, err)
}

func TestConcurrentAdds(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	out := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			deb, err := BuildPackage(t.Context(), PackageSpec{Name: fmt.Sprintf("pkg%d", i), Version: "1.0-1", OutDir: out})
			if err == nil {
				_, err = r.Add(t.Context(), Suites[i%3].Dist, deb)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	total := 0
	for _, s := range Suites {
		pkgs, err := r.Packages(s.Dist)
		require.NoError(t, err)
		total += len(pkgs)
		stanzas, err := ParseParagraphs(bytes.NewReader(readFile(t, r.Dir(), "debian", "dists", s.Dist, "main", "binary-amd64", "Packages")))
		require.NoError(t, err)
		assert.Len(t, stanzas, len(pkgs), s.Dist)
	}
	assert.Equal(t, 8, total)
}

func TestByHashKeepsTwoGenerations(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	byHash := filepath.Join(r.Dir(), "debian", "dists", SuiteBookworm, "main", "binary-amd64", "by-hash", "SHA256")
	out := t.TempDir()
	var gens [][]string
	for i := range 4 {
		deb, err := BuildPackage(t.Context(), PackageSpec{Name: fmt.Sprintf("gen%d", i), Version: "1", OutDir: out})
		require.NoError(t, err)
		_, err = r.Add(t.Context(), SuiteBookworm, deb)
		require.NoError(t, err)
		packages := readFile(t, r.Dir(), "debian", "dists", SuiteBookworm, "main", "binary-amd64", "Packages")
		gz := readFile(t, r.Dir(), "debian", "dists", SuiteBookworm, "main", "binary-amd64", "Packages.gz")
		gens = append(gens, []string{sha256Hex(packages), sha256Hex(gz)})
	}
	ents, err := os.ReadDir(byHash)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, append(gens[3], gens[2]...), names)
}
