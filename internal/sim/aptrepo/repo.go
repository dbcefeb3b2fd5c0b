package aptrepo

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/internal/atomicfile"
)

// Options configure Open.
type Options struct {
	// KeyBits is the RSA size of a newly generated signing key; default 3072. An existing
	// key is reused whatever its size.
	KeyBits int
	// Now stamps Release files; default time.Now. apt refuses Release files dated in the
	// future, so tests pass a clock only to pin dates in the past.
	Now func() time.Time
	// Logger receives one line per published package; default discards.
	Logger *slog.Logger
}

// Repo is a signed apt repository in a directory. Its methods are safe for concurrent use,
// also while Handler serves the directory.
type Repo struct {
	dir  string // the repository directory given to Open
	root string // <dir>/debian, the served tree
	now  func() time.Time
	log  *slog.Logger
	sign *signer

	mu     sync.Mutex
	suites map[string]map[string]entry // dist -> entry key -> entry
	// prevHashes are the by-hash names of each suite's previous generation, kept so a
	// client holding the previous InRelease can still fetch its indices.
	prevHashes map[string][]string
}

// Package describes a package published in a suite.
type Package struct {
	Suite        string
	Name         string
	Version      string
	Architecture string
	Filename     string // pool path relative to the repository root (the /debian URL)
	SHA256       string
}

// Open creates the repository in dir, or opens the one already there: its signing key is
// reused and the packages listed in its indices are kept. Every suite's indices are
// (re)written and signed, so a freshly created repository is immediately usable by apt.
func Open(dir string, opts Options) (*Repo, error) {
	if opts.KeyBits == 0 {
		opts.KeyBits = 3072
	}
	if opts.KeyBits < 2048 {
		return nil, fmt.Errorf("open apt repository %s: key size %d bits: want at least 2048 (gpgv rejects weaker RSA keys)", dir, opts.KeyBits)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
	}
	r := &Repo{
		dir: abs, root: filepath.Join(abs, "debian"), now: opts.Now, log: opts.Logger,
		suites: map[string]map[string]entry{}, prevHashes: map[string][]string{},
	}
	for _, s := range Suites {
		if err := os.MkdirAll(r.indexDir(s.Dist), 0o755); err != nil {
			return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(r.root, "pool", "main"), 0o755); err != nil {
		return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
	}
	if r.sign, err = loadOrCreateKey(abs, opts.KeyBits, opts.Now); err != nil {
		return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
	}
	if err := r.publishKey(); err != nil {
		return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range Suites {
		entries := map[string]entry{}
		data, err := os.ReadFile(filepath.Join(r.indexDir(s.Dist), "Packages"))
		switch {
		case err == nil:
			list, err := entriesFromPackages(data)
			if err != nil {
				return nil, fmt.Errorf("open apt repository %s: read %s index: %w", dir, s.Dist, err)
			}
			for _, e := range list {
				entries[e.key()] = e
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
		}
		r.suites[s.Dist] = entries
		if err := r.writeSuiteLocked(s); err != nil {
			return nil, fmt.Errorf("open apt repository %s: %w", dir, err)
		}
	}
	return r, nil
}

// Dir is the repository directory given to Open (absolute).
func (r *Repo) Dir() string { return r.dir }

// PublicKeyArmored returns the signing key's public part in ASCII armour.
func (r *Repo) PublicKeyArmored() ([]byte, error) { return r.sign.publicKeyArmored() }

// PublicKeyring returns the signing key's public part as a binary keyring, ready to be
// written to /usr/share/keyrings/<name>.gpg and named in signed-by.
func (r *Repo) PublicKeyring() ([]byte, error) { return r.sign.publicKeyring() }

// KeyFingerprint returns the signing key's fingerprint (upper-case hex).
func (r *Repo) KeyFingerprint() string { return r.sign.fingerprint() }

// SourcesList returns a deb822 sources file for a client that reaches the repository at
// baseURL (e.g. "http://172.17.0.1:8081/debian") and keeps the keyring at keyringPath.
func SourcesList(baseURL, keyringPath string) string {
	return "Types: deb\nURIs: " + baseURL + "\nSuites: bookworm bookworm-updates bookworm-security\n" +
		"Components: main\nSigned-By: " + keyringPath + "\n"
}

func (r *Repo) publishKey() error {
	ring, err := r.sign.publicKeyring()
	if err != nil {
		return err
	}
	asc, err := r.sign.publicKeyArmored()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.root, keyringGPGName), ring, 0o644); err != nil {
		return fmt.Errorf("publish public key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(r.root, keyringASCName), asc, 0o644); err != nil {
		return fmt.Errorf("publish public key: %w", err)
	}
	return nil
}

func (r *Repo) distDir(dist string) string { return filepath.Join(r.root, "dists", dist) }

func (r *Repo) indexDir(dist string) string {
	return filepath.Join(r.distDir(dist), component, "binary-"+archAmd64)
}

// Add publishes the .deb at debPath in suite: the file is copied into the pool and the
// suite's indices are rewritten and signed. Adding the same file again is a no-op; adding
// a different file under a name, version and architecture already in the pool is refused,
// as Debian's archive refuses it.
func (r *Repo) Add(ctx context.Context, suite, debPath string) (Package, error) {
	info, err := suiteInfo(suite)
	if err != nil {
		return Package{}, fmt.Errorf("add %s: %w", debPath, err)
	}
	ctrl, err := readDebControl(ctx, debPath)
	if err != nil {
		return Package{}, fmt.Errorf("add %s to %s: %w", debPath, suite, err)
	}
	size, md5sum, sha, err := hashFile(debPath)
	if err != nil {
		return Package{}, fmt.Errorf("add %s to %s: %w", debPath, suite, err)
	}
	e := entry{Control: ctrl, Size: size, MD5: md5sum, SHA256: sha}
	e.Filename = path.Join(poolDir(e.name()), fmt.Sprintf("%s_%s_%s.deb", e.name(), debFileVersion(e.version()), e.arch()))
	pkg := Package{Suite: suite, Name: e.name(), Version: e.version(), Architecture: e.arch(), Filename: e.Filename, SHA256: sha}

	r.mu.Lock()
	defer r.mu.Unlock()
	poolPath := filepath.Join(r.root, filepath.FromSlash(e.Filename))
	if _, _, have, err := hashFile(poolPath); err == nil {
		if have != sha {
			return Package{}, fmt.Errorf("add %s to %s: the pool already holds %s with different content (sha256 %s, new %s); publish a new version instead",
				debPath, suite, e.Filename, have, sha)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(poolPath), 0o755); err != nil {
			return Package{}, fmt.Errorf("add %s to %s: %w", debPath, suite, err)
		}
		if err := copyInto(poolPath, debPath); err != nil {
			return Package{}, fmt.Errorf("add %s to %s: copy into pool: %w", debPath, suite, err)
		}
	} else {
		return Package{}, fmt.Errorf("add %s to %s: %w", debPath, suite, err)
	}
	if old, ok := r.suites[suite][e.key()]; ok && old.SHA256 == e.SHA256 {
		return pkg, nil
	}
	r.suites[suite][e.key()] = e
	if err := r.writeSuiteLocked(info); err != nil {
		delete(r.suites[suite], e.key())
		return Package{}, fmt.Errorf("add %s to %s: %w", debPath, suite, err)
	}
	r.log.Info("published package", "suite", suite, "package", e.name(), "version", e.version(), "arch", e.arch())
	return pkg, nil
}

// Packages lists the packages of suite, sorted by name, version and architecture.
func (r *Repo) Packages(suite string) ([]Package, error) {
	if _, err := suiteInfo(suite); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Package, 0, len(r.suites[suite]))
	for _, e := range r.suites[suite] {
		out = append(out, Package{Suite: suite, Name: e.name(), Version: e.version(), Architecture: e.arch(), Filename: e.Filename, SHA256: e.SHA256})
	}
	slices.SortFunc(out, func(a, b Package) int {
		return strings.Compare(a.Name+"_"+a.Version+"_"+a.Architecture, b.Name+"_"+b.Version+"_"+b.Architecture)
	})
	return out, nil
}

// writeSuiteLocked rewrites a suite's indices and signatures. Order matters for clients
// reading concurrently: by-hash copies first, then the indices, then Release.gpg, Release
// and last InRelease, each by rename; apt fetches indices by hash, so it never pairs a new
// InRelease with an old Packages file.
func (r *Repo) writeSuiteLocked(s SuiteInfo) error {
	entries := make([]entry, 0, len(r.suites[s.Dist]))
	for _, e := range r.suites[s.Dist] {
		entries = append(entries, e)
	}
	packages := buildPackages(entries)
	rel := path.Join(component, "binary-"+archAmd64)
	files := []indexFile{
		{Path: rel + "/Packages", Data: packages},
		{Path: rel + "/Packages.gz", Data: gzipBytes(packages)},
	}
	byHash := filepath.Join(r.indexDir(s.Dist), "by-hash", "SHA256")
	if err := os.MkdirAll(byHash, 0o755); err != nil {
		return fmt.Errorf("write %s indices: %w", s.Dist, err)
	}
	var current []string
	for _, f := range files {
		current = append(current, sha256Hex(f.Data))
		if err := atomicfile.Write(filepath.Join(byHash, current[len(current)-1]), f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s indices: %w", s.Dist, err)
		}
	}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(r.distDir(s.Dist), filepath.FromSlash(f.Path)), f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s indices: %w", s.Dist, err)
		}
	}
	release := buildRelease(s, r.now(), files)
	inRelease, err := r.sign.clearsign(release)
	if err != nil {
		return fmt.Errorf("sign %s Release: %w", s.Dist, err)
	}
	detached, err := r.sign.detachSign(release)
	if err != nil {
		return fmt.Errorf("sign %s Release: %w", s.Dist, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"Release.gpg", detached}, {"Release", release}, {"InRelease", inRelease}} {
		if err := atomicfile.Write(filepath.Join(r.distDir(s.Dist), f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("write %s %s: %w", s.Dist, f.name, err)
		}
	}
	keep := append(slices.Clone(current), r.prevHashes[s.Dist]...)
	r.prevHashes[s.Dist] = current
	return pruneByHash(byHash, keep)
}

// pruneByHash removes by-hash files of generations older than the previous one.
func pruneByHash(dir string, keep []string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune %s: %w", dir, err)
	}
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("prune %s: %w", dir, err)
			}
		}
	}
	return nil
}

// hashFile returns the size, MD5 and SHA-256 of a file in one pass.
func hashFile(p string) (size int64, md5sum, sha string, err error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", "", err
	}
	defer f.Close()
	m, s := md5.New(), sha256.New()
	size, err = io.Copy(io.MultiWriter(m, s), f)
	if err != nil {
		return 0, "", "", fmt.Errorf("read %s: %w", p, err)
	}
	return size, hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil)), nil
}

// copyInto copies the file src to dst atomically, so apt never fetches half a package.
func copyInto(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.WriteFrom(dst, in, 0o644)
}
