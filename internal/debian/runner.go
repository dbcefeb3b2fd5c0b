package debian

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/remote"
)

// Runner runs argv on a host and returns its outcome. An error means the command could not
// be run (connection lost, context ended); a non-zero exit is in the Result.
// *remote.Client satisfies it.
type Runner interface {
	Run(ctx context.Context, argv []string) (remote.Result, error)
}

// sudo prefixes argv so it runs as root without a password prompt (sudo -n fails at once
// instead of waiting for one). Login users of cloud images have passwordless sudo.
func sudo(argv ...string) []string { return append([]string{"sudo", "-n"}, argv...) }

// run runs argv and turns a non-zero exit into an error.
func run(ctx context.Context, r Runner, argv ...string) (remote.Result, error) {
	res, err := r.Run(ctx, argv)
	if err != nil {
		return res, err
	}
	return res, res.Err()
}

// writeScript writes $1 to the file $2 atomically (temporary file, then rename) with mode
// $3. Content and path are positional arguments, never part of the script text.
const writeScript = `set -e; umask 077; tmp="$2.remint-tmp"; printf '%s' "$1" > "$tmp"; chmod "$3" "$tmp"; mv -f "$tmp" "$2"`

// WriteFile writes content to path on the host as root, atomically, unless the file
// already holds exactly that content. It reports whether it changed the file.
func WriteFile(ctx context.Context, r Runner, path, content, mode string) (changed bool, err error) {
	cur, err := r.Run(ctx, sudo("cat", "--", path))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if cur.ExitStatus == 0 && cur.Stdout == content {
		return false, nil
	}
	if _, err := run(ctx, r, sudo("sh", "-c", writeScript, "remint-write", content, path, mode)...); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}
