package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
)

func init() { simDrivers["loopback"] = newLoopbackSimDriver }

// newLoopbackSimDriver runs servers as workloads on 127.10.0.0/16 with floating IPs on
// 127.20.0.0/16; when another simulator on this machine holds that plan, it takes a free
// pair of /16s instead and says so.
func newLoopbackSimDriver(_ context.Context, _ simOptions) (sim.Driver, error) {
	log, err := newLogger(os.Stderr)
	if err != nil {
		return nil, err
	}
	opts := loopback.Options{Logger: log}
	d, err := loopback.NewReserved(opts)
	if errors.Is(err, syscall.EADDRINUSE) {
		d, err = loopback.NewFree(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("reserve loopback addresses: %w", err)
	}
	private, public := d.AddressPlan()
	log.Info("loopback driver", "servers", private.String(), "floating_ips", public.String(), "port", d.Port())
	return d, nil
}
