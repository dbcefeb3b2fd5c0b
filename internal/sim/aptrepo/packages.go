package aptrepo

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"strings"
)

// entry is one package of a suite: its control fields plus where the .deb lies.
type entry struct {
	Control  Paragraph // the package's control file, as dpkg-deb prints it
	Filename string    // path from the repository root, e.g. pool/main/d/demo/demo_1.0-1_all.deb
	Size     int64
	MD5      string
	SHA256   string
}

func (e entry) name() string    { return e.Control.Value("Package") }
func (e entry) version() string { return e.Control.Value("Version") }
func (e entry) arch() string    { return e.Control.Value("Architecture") }

// key identifies a package in a suite; Debian allows one file per name, version and arch.
func (e entry) key() string { return e.name() + "_" + e.version() + "_" + e.arch() }

// stanza is the entry's paragraph in a Packages index.
func (e entry) stanza() Paragraph {
	p := slices.Clone(e.Control.Without("Filename", "Size", "MD5sum", "SHA1", "SHA256", "Status"))
	return append(p,
		Field{"Filename", e.Filename},
		Field{"Size", fmt.Sprint(e.Size)},
		Field{"MD5sum", e.MD5},
		Field{"SHA256", e.SHA256},
	)
}

// buildPackages renders a Packages index: one stanza per entry, sorted by name, then
// version text, then architecture, separated by blank lines.
func buildPackages(entries []entry) []byte {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int {
		return strings.Compare(a.key(), b.key())
	})
	var b bytes.Buffer
	for i, e := range entries {
		if i > 0 {
			b.WriteByte('\n')
		}
		_, _ = e.stanza().WriteTo(&b)
	}
	return b.Bytes()
}

// entriesFromPackages reads a Packages index back (used when an existing repository is
// opened).
func entriesFromPackages(data []byte) ([]entry, error) {
	paras, err := ParseParagraphs(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(paras))
	for _, p := range paras {
		e := entry{
			Control:  p.Without("Filename", "Size", "MD5sum", "SHA256"),
			Filename: p.Value("Filename"),
			MD5:      p.Value("MD5sum"),
			SHA256:   p.Value("SHA256"),
		}
		if _, err := fmt.Sscan(p.Value("Size"), &e.Size); err != nil {
			return nil, fmt.Errorf("package %s: bad Size %q", e.key(), p.Value("Size"))
		}
		if e.Filename == "" || e.SHA256 == "" {
			return nil, fmt.Errorf("package %s: missing Filename or SHA256", e.key())
		}
		out = append(out, e)
	}
	return out, nil
}

// gzipBytes compresses b deterministically (no name, no timestamp).
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
