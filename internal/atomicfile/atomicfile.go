// Package atomicfile writes files so that readers see the old content or the new, never a
// part: the data goes to a temporary file in the same directory, which is renamed over the
// target. Readers that wait for a file to appear (scripts waiting for clouds.yaml, apt
// fetching indices and packages) rely on it.
package atomicfile

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with mode, atomically.
func Write(path string, data []byte, mode fs.FileMode) error {
	return WriteFrom(path, bytes.NewReader(data), mode)
}

// WriteFrom writes everything r yields to path with mode, atomically: if reading r fails,
// path keeps its old content (or stays absent).
func WriteFrom(path string, r io.Reader, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
