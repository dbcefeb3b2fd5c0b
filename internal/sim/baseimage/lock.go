package baseimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sethvargo/go-retry"
)

// lockBuilds takes the machine-wide build lock in cacheDir, waiting for another process's
// build to finish (or ctx to end). The lock is released by the returned function, or by the
// kernel if the process dies.
func lockBuilds(ctx context.Context, cacheDir string) (unlock func(), err error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("base image build lock: %w", err)
	}
	path := filepath.Join(cacheDir, "build.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("base image build lock: %w", err)
	}
	err = retry.Do(ctx, retry.NewConstant(500*time.Millisecond), func(context.Context) error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return retry.RetryableError(err)
		}
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("base image build lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
