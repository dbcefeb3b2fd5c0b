package aptrepo

import (
	"context"
	"fmt"
	"os"
)

// Demo package names and versions published by PublishDemo.
const (
	DemoLibssl              = "demo-libssl"
	DemoLibsslVersion       = "1.0-1"
	DemoLibsslSecureVersion = "1.0-1+deb12u1" // in bookworm-security; flags a reboot
	DemoTool                = "demo-tool"
	DemoToolVersion         = "1.0-1"
	DemoToolUpdatesVersion  = "2.0-1" // in bookworm-updates; security-only upgrades leave it
)

// DemoSpecs returns the demo set by suite: demo-libssl and demo-tool 1.0-1 in bookworm,
// demo-libssl 1.0-1+deb12u1 in bookworm-security whose postinst requires a reboot, and
// demo-tool 2.0-1 in bookworm-updates. Each package installs
// /usr/share/<name>/version holding its version.
func DemoSpecs() (map[string][]PackageSpec, error) {
	postinst, err := RebootRequiredPostinst(DemoLibssl)
	if err != nil {
		return nil, err
	}
	spec := func(name, version, desc string) PackageSpec {
		return PackageSpec{
			Name: name, Version: version, Section: "libs",
			Description: desc + "\nA package of remint's simulated Debian archive; it installs\n/usr/share/" + name + "/version and nothing else.",
			Files:       map[string][]byte{"/usr/share/" + name + "/version": []byte(version + "\n")},
		}
	}
	secure := spec(DemoLibssl, DemoLibsslSecureVersion, "demo TLS library (security update)")
	secure.Postinst = postinst
	tool := spec(DemoTool, DemoToolVersion, "demo command-line tool")
	tool.Section = "utils"
	toolUpdate := spec(DemoTool, DemoToolUpdatesVersion, "demo command-line tool (stable update)")
	toolUpdate.Section = "utils"
	return map[string][]PackageSpec{
		SuiteBookworm:         {spec(DemoLibssl, DemoLibsslVersion, "demo TLS library"), tool},
		SuiteBookwormSecurity: {secure},
		SuiteBookwormUpdates:  {toolUpdate},
	}, nil
}

// PublishDemo builds the demo set (DemoSpecs) and publishes it. The builds are
// reproducible, so publishing again is a no-op.
func (r *Repo) PublishDemo(ctx context.Context) ([]Package, error) {
	specs, err := DemoSpecs()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "remint-demo-debs-*")
	if err != nil {
		return nil, fmt.Errorf("publish demo packages: %w", err)
	}
	defer os.RemoveAll(tmp)
	var out []Package
	for _, s := range Suites {
		for _, spec := range specs[s.Dist] {
			spec.OutDir = tmp
			deb, err := BuildPackage(ctx, spec)
			if err != nil {
				return nil, fmt.Errorf("publish demo packages: %w", err)
			}
			p, err := r.Add(ctx, s.Dist, deb)
			if err != nil {
				return nil, fmt.Errorf("publish demo packages: %w", err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}
