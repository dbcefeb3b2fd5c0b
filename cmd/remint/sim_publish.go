package main

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/remint-dev/remint/internal/sim/aptrepo"
	"github.com/spf13/cobra"
)

func init() { simSubcommands = append(simSubcommands, newSimPublishPackageCmd) }

type simPublishOptions struct {
	repoDir        string
	suite          string
	deb            string
	name           string
	version        string
	arch           string
	description    string
	depends        []string
	files          []string
	rebootRequired bool
	demo           bool
	docker         bool
	dockerCache    string
}

// newSimPublishPackageCmd publishes packages into the simulator's local apt repository.
func newSimPublishPackageCmd() *cobra.Command {
	var o simPublishOptions
	cmd := &cobra.Command{
		Use:   "publish-package",
		Short: "Publish a package into the simulator's signed apt repository",
		Long: `Publish a Debian package into the apt repository the simulator serves to its servers
(suites bookworm, bookworm-updates and bookworm-security, with Debian's Release fields, so
unattended-upgrades treats bookworm-security as security). The repository and its signing
key are created in --repo-dir on first use.

Publish an existing .deb with --deb, or build one on the fly with --name and --version
(--postinst-reboot-required makes its postinst flag /var/run/reboot-required as libc6
does). --demo publishes the demo set: demo-libssl 1.0-1 (bookworm) and 1.0-1+deb12u1
(bookworm-security, requires a reboot), demo-tool 1.0-1 (bookworm) and 2.0-1
(bookworm-updates). --docker publishes Debian's docker.io with its dependencies and a
re-versioned copy, downloaded with the host's apt into --docker-cache.`,
		Example: `  remint sim publish-package --repo-dir /var/lib/remint/apt --demo
  remint sim publish-package --repo-dir /var/lib/remint/apt --suite bookworm-security \
      --name demo-libssl --version 1.0-1+deb12u2 --postinst-reboot-required
  remint sim publish-package --repo-dir /var/lib/remint/apt --suite bookworm --deb ./hello_2.10-3_amd64.deb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimPublish(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.repoDir, "repo-dir", "", "repository directory (created with a new signing key when missing)")
	f.StringVar(&o.suite, "suite", "", "suite to publish into: bookworm, bookworm-updates or bookworm-security")
	f.StringVar(&o.deb, "deb", "", "existing .deb file to publish")
	f.StringVar(&o.name, "name", "", "name of a package to build")
	f.StringVar(&o.version, "version", "", "Debian version of the package to build, e.g. 1.0-1+deb12u1")
	f.StringVar(&o.arch, "arch", "all", "architecture of the package to build: all or amd64")
	f.StringVar(&o.description, "description", "", "synopsis of the package to build")
	f.StringArrayVar(&o.depends, "depends", nil, `dependency of the package to build, e.g. "libc6 (>= 2.36)" (repeatable)`)
	f.StringArrayVar(&o.files, "file", nil, "PATH=LOCALFILE: install LOCALFILE's content at PATH (repeatable)")
	f.BoolVar(&o.rebootRequired, "postinst-reboot-required", false, "the built package's postinst touches /var/run/reboot-required and appends its name to reboot-required.pkgs")
	f.BoolVar(&o.demo, "demo", false, "publish the demo package set")
	f.BoolVar(&o.docker, "docker", false, "publish docker.io (Debian's and a re-versioned copy) with the dependencies it needs")
	f.StringVar(&o.dockerCache, "docker-cache", "/var/cache/remint/docker-debs", "where --docker keeps the downloaded .debs")
	return cmd
}

func runSimPublish(cmd *cobra.Command, o simPublishOptions) error {
	log, err := newLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if o.repoDir == "" {
		return usageErrorf("--repo-dir is required")
	}
	building := o.name != "" || o.version != ""
	modes := 0
	for _, set := range []bool{o.demo, o.docker, o.deb != "", building} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return usageErrorf("give exactly one of --deb FILE, --name N --version V, --demo or --docker")
	}
	if o.deb != "" || building {
		if o.suite == "" {
			return usageErrorf("--suite is required with --deb and --name: bookworm, bookworm-updates or bookworm-security")
		}
		if !knownSuite(o.suite) {
			return usageErrorf("--suite %q: want bookworm, bookworm-updates or bookworm-security", o.suite)
		}
	} else if o.suite != "" {
		return usageErrorf("--suite %q: --demo and --docker choose their own suites", o.suite)
	}
	if !building && (o.rebootRequired || len(o.depends) > 0 || len(o.files) > 0 || o.description != "" || o.arch != "all") {
		return usageErrorf("--postinst-reboot-required, --depends, --file, --description and --arch apply only with --name and --version")
	}

	var spec aptrepo.PackageSpec
	if building {
		if spec, err = buildSpecFromFlags(o); err != nil {
			return err
		}
	}
	if o.deb != "" {
		if st, err := os.Stat(o.deb); err != nil || !st.Mode().IsRegular() {
			return usageErrorf("--deb %q: not a readable file", o.deb)
		}
	}

	ctx := cmd.Context()
	repo, err := aptrepo.Open(o.repoDir, aptrepo.Options{Logger: log})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	print := func(p aptrepo.Package) {
		fmt.Fprintf(out, "published %s %s (%s) in %s: %s\n", p.Name, p.Version, p.Architecture, p.Suite, p.Filename)
	}
	switch {
	case o.demo:
		pkgs, err := repo.PublishDemo(ctx)
		if err != nil {
			return err
		}
		for _, p := range pkgs {
			print(p)
		}
	case o.docker:
		oldV, newV, err := repo.PublishDocker(ctx, o.dockerCache)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "published docker.io %s (bookworm) and %s (bookworm-updates)\n", oldV, newV)
	case o.deb != "":
		p, err := repo.Add(ctx, o.suite, o.deb)
		if err != nil {
			return err
		}
		print(p)
	default:
		tmp, err := os.MkdirTemp("", "remint-publish-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		spec.OutDir = tmp
		deb, err := aptrepo.BuildPackage(ctx, spec)
		if err != nil {
			return usageError{err}
		}
		p, err := repo.Add(ctx, o.suite, deb)
		if err != nil {
			return err
		}
		print(p)
	}
	fmt.Fprintf(out, "repository %s, signing key %s\n", repo.Dir(), repo.KeyFingerprint())
	return nil
}

func knownSuite(s string) bool {
	for _, info := range aptrepo.Suites {
		if info.Dist == s {
			return true
		}
	}
	return false
}

// buildSpecFromFlags validates the --name/--version flags into a PackageSpec.
func buildSpecFromFlags(o simPublishOptions) (aptrepo.PackageSpec, error) {
	if o.name == "" || o.version == "" {
		return aptrepo.PackageSpec{}, usageErrorf("--name and --version go together")
	}
	if err := aptrepo.ValidatePackageName(o.name); err != nil {
		return aptrepo.PackageSpec{}, usageErrorf("--name: %w", err)
	}
	if err := aptrepo.ValidateVersion(o.version); err != nil {
		return aptrepo.PackageSpec{}, usageErrorf("--version: %w", err)
	}
	if o.arch != "all" && o.arch != "amd64" {
		return aptrepo.PackageSpec{}, usageErrorf("--arch %q: want all or amd64", o.arch)
	}
	if err := aptrepo.ValidateRelations("--depends", o.depends); err != nil {
		return aptrepo.PackageSpec{}, usageErrorf("%w", err)
	}
	spec := aptrepo.PackageSpec{
		Name: o.name, Version: o.version, Architecture: o.arch, Depends: o.depends,
		Description: o.description, Files: map[string][]byte{}, Modes: map[string]fs.FileMode{},
	}
	for _, f := range o.files {
		target, local, ok := strings.Cut(f, "=")
		if !ok || target == "" || local == "" {
			return spec, usageErrorf("--file %q: want PATH=LOCALFILE", f)
		}
		st, err := os.Stat(local)
		if err != nil {
			return spec, usageErrorf("--file %q: %w", f, err)
		}
		data, err := os.ReadFile(local)
		if err != nil {
			return spec, usageErrorf("--file %q: %w", f, err)
		}
		spec.Files[target] = data
		spec.Modes[target] = st.Mode().Perm()
	}
	if o.rebootRequired {
		script, err := aptrepo.RebootRequiredPostinst(o.name)
		if err != nil {
			return spec, usageErrorf("--name: %w", err)
		}
		spec.Postinst = script
	}
	return spec, nil
}
