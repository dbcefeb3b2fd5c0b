package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds what Load reads; real manifests are a few kilobytes.
const maxFileSize = 4 << 20

// Load reads, validates and defaults the manifest at path. Problems in the manifest are
// returned as Errors (every one of them, sorted by position); a file that cannot be read
// is an ordinary error wrapping the os error.
func Load(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("read manifest %s: larger than %d bytes", path, maxFileSize)
	}
	m, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if m.dir, err = filepath.Abs(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("resolve directory of manifest %s: %w", path, err)
	}
	return m, nil
}

// Parse validates and defaults a manifest held in memory; name is used as its Path and
// in messages. Relative state paths resolve from name's directory as seen from the
// working directory at the time StatePath is called (Load fixes it at load time).
func Parse(name string, data []byte) (*Manifest, error) {
	d := newDecoder(name)
	root, errs := parseDocument(name, data)
	if errs != nil {
		return nil, errs
	}
	d.root = root
	m := &Manifest{Path: name}
	d.decode(root, "", reflect.ValueOf(m).Elem())
	d.check(m)
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	m.Path = name
	m.applyDefaults()
	return m, nil
}

// parseDocument parses data into the node tree of its single YAML document.
func parseDocument(name string, data []byte) (*yaml.Node, Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Line: 1, Column: 1, Message: "empty manifest: want a mapping with cloud, families, groups and schedules"}}
		}
		return nil, Errors{syntaxError(name, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Errors{{File: name, Line: extra.Line, Column: extra.Column, Message: "a second YAML document: want exactly one (remove the --- separator)"}}
	case !errors.Is(err, io.EOF):
		return nil, Errors{syntaxError(name, err)}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: name, Line: 1, Column: 1, Message: "empty manifest: want a mapping with cloud, families, groups and schedules"}}
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml.v3's "yaml: line 3: …" into a positioned Error.
func syntaxError(name string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &Error{File: name, Message: "invalid YAML: " + msg}
}
