package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/remote"
)

// stepRecordPackages records the installed packages (dpkg-query) and the apt suite each
// installed version came from (apt-cache policy), before the clean step drops apt's lists.
type stepRecordPackages struct{}

func (*stepRecordPackages) Name() string { return "record packages" }

func (s *stepRecordPackages) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	pkgs, err := listPackages(ctx, b, conn(state, roleBuilder))
	if err != nil {
		return halt(state, err)
	}
	state.Put(keyPackages, pkgs)
	b.log.Info("package list recorded", "packages", len(pkgs))
	return multistep.ActionContinue
}

func (*stepRecordPackages) Cleanup(multistep.StateBag) {}

// listPackages reads the installed packages of the host behind c, with their suites.
func listPackages(ctx context.Context, b *build, c *remote.Client) ([]debian.Package, error) {
	res, err := c.Run(ctx, debian.DpkgQueryArgv())
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("list installed packages: %w", err)
	}
	pkgs, err := debian.ParseDpkgQuery(res.Stdout)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(pkgs))
	for i, p := range pkgs {
		names[i] = p.Name
	}
	argv, err := debian.AptCachePolicyArgv(names)
	if err != nil {
		return nil, err
	}
	res, err = c.Run(ctx, append([]string{"env", "LANG=C"}, argv...))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("find the suites of the installed packages: %w", err)
	}
	return debian.WithSuites(pkgs, debian.ParseAptCachePolicy(res.Stdout)), nil
}
