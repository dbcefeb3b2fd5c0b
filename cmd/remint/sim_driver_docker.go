package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/aptrepo"
	"github.com/remint-dev/remint/internal/sim/docker"
)

func init() { simDrivers["docker"] = newDockerSimDriver }

// dockerSimDriver is the docker driver plus the local apt repository it serves to its
// servers; closing it stops both.
type dockerSimDriver struct {
	*docker.Driver
	repo *aptrepo.Server
}

func (d dockerSimDriver) Close() error {
	return errors.Join(d.Driver.Close(), d.repo.Close())
}

// newDockerSimDriver starts the docker driver and the apt repository in
// <state-dir>/apt, listening on the servers' network gateway so that servers reach it.
// `remint sim publish-package --repo-dir <state-dir>/apt` adds packages while it runs.
// The workload baked into the base image is this binary (build it with CGO_ENABLED=0).
func newDockerSimDriver(ctx context.Context, o simOptions) (sim.Driver, error) {
	log, err := newLogger(os.Stderr)
	if err != nil {
		return nil, err
	}
	d, err := docker.New(ctx, docker.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	repoDir := filepath.Join(o.stateDir, "apt")
	repo, err := aptrepo.Open(repoDir, aptrepo.Options{Logger: log})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open the local apt repository: %w", err), d.Close())
	}
	srv, err := repo.Serve(ctx, netip.AddrPortFrom(d.Gateway(), 0).String())
	if err != nil {
		return nil, errors.Join(err, d.Close())
	}
	key, err := repo.PublicKeyArmored()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("read the apt repository key: %w", err), srv.Close(), d.Close())
	}
	d.SetAptRepo(srv.URL(), key)
	log.Info("local apt repository serving the docker driver's servers", "url", srv.URL(), "dir", repoDir,
		"network", d.NetworkName())
	return dockerSimDriver{Driver: d, repo: srv}, nil
}
