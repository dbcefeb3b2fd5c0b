package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// pipeline is the image-pipeline scenarios' shared world: one simulator, one manifest with
// a family per scenario (so scenarios run side by side, each under its own family lease),
// one state file.
type pipeline struct {
	c        *cloud
	dir      string
	manifest string
	repo     string
}

// run runs remint with args against the simulator (or through proxy's clouds.yaml when
// given) and returns its stdout+stderr and exit code.
func (p *pipeline) run(t *testing.T, ctx context.Context, proxy *faultProxy, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, p.c.bin, args...)
	clouds := p.c.cloudsYAML
	if proxy != nil {
		clouds = proxy.cloudsYAML
	}
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+clouds, "OS_CLOUD=remint-sim", "REMINT_LEASE_TTL=3s")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "remint %s", strings.Join(args, " "))
	return string(out), 0
}

func (p *pipeline) build(t *testing.T, ctx context.Context, proxy *faultProxy, family string, args ...string) (string, int) {
	t.Helper()
	start := time.Now()
	out, code := p.run(t, ctx, proxy, append([]string{"image", "build", family, "-f", p.manifest}, args...)...)
	t.Logf("remint image build %s %s: exit %d after %s\n%s", family, strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), stepLines(out))
	return out, code
}

// stepLines keeps the step and summary lines of a build's output (not the log lines).
func stepLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "time=") && strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func (p *pipeline) publish(t *testing.T, ctx context.Context, args ...string) {
	t.Helper()
	p.c.remint(t, ctx, append([]string{"sim", "publish-package", "--repo-dir", p.repo}, args...)...)
}

// leftovers lists what a build of family may have left behind: servers, keypairs and
// images tagged with it, and catalog images of the family beyond keep.
func (p *pipeline) leftovers(t *testing.T, ctx context.Context, family string, keep ...string) []string {
	t.Helper()
	var left []string
	servers, err := p.c.os.ListServers(ctx, openstack.ListServersOpts{Metadata: map[string]string{"remint_build_family": family}})
	require.NoError(t, err)
	for _, s := range servers {
		left = append(left, "server "+s.Name)
	}
	kps, err := p.c.os.ListKeypairs(ctx)
	require.NoError(t, err)
	for _, k := range kps {
		if regexp.MustCompile(`^remint-build-` + regexp.QuoteMeta(family) + `-[0-9a-f]{8}$`).MatchString(k.Name) {
			left = append(left, "keypair "+k.Name)
		}
	}
	for _, props := range []map[string]string{{"remint_build_family": family}, {"remint_family": family}} {
		imgs, err := p.c.os.ListImages(ctx, openstack.ListImagesOpts{Properties: props, IncludeHidden: true})
		require.NoError(t, err)
		for _, img := range imgs {
			if !contains(keep, img.ID) {
				left = append(left, fmt.Sprintf("image %s (%s, %s)", img.Name, img.ID, img.Properties["remint_state"]))
			}
		}
	}
	return left
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// entryJSON is what `image show -o json` prints.
type entryJSON struct {
	Version    string            `json:"version"`
	State      string            `json:"state"`
	ImageID    string            `json:"image_id"`
	Properties map[string]string `json:"properties"`
}

func (p *pipeline) show(t *testing.T, ctx context.Context, family, version string) entryJSON {
	t.Helper()
	out, code := p.run(t, ctx, nil, "image", "show", family, version, "-f", p.manifest, "-o", "json", "--log-level", "error")
	require.Equal(t, 0, code, out)
	var e entryJSON
	require.NoError(t, json.Unmarshal([]byte(out), &e), out)
	return e
}

const pipelineManifest = `cloud: remint-sim
state: %s
families:
%s
groups:
  web:
    count: 1
    image: {family: deb}
    flavor: m1.small
    network: private
    health:
      http: {port: 8080, path: /healthz, status: 200, body: ok}
      interval: 500ms
      healthy_threshold: 2
      deadline: 1m
`

// family renders one family of the manifest; provision is YAML under provision:.
func family(name, provision string) string {
	s := fmt.Sprintf("  %s:\n    source_image: debian-12\n    flavor: m1.small\n    network: private\n    ssh_user: debian\n    retention: 2\n", name)
	if provision != "" {
		s += "    provision:\n"
		for _, l := range strings.Split(strings.TrimRight(provision, "\n"), "\n") {
			s += "      " + l + "\n"
		}
	}
	return s
}

// failCase makes one step of the pipeline fail, through the family's provisioning or a
// fault the proxy injects.
type failCase struct {
	step      string
	provision string
	rules     []*faultRule
	args      []string
	output    string // the failed step's output must contain this
}

const (
	computePath = `^/compute/v2\.1`
	imagePath   = `^/image/v2/images`
)

func failCases(weaveScript string) map[string]failCase {
	forbid := func(method, path, body string, skip, times int) []*faultRule {
		return []*faultRule{{Method: method, Path: path, Body: body, Skip: skip, Times: times}}
	}
	return map[string]failCase{
		"f-leftovers": {step: "remove leftovers", rules: forbid("GET", computePath+`/os-keypairs$`, "", 0, 0)},
		"f-source":    {step: "resolve source image", rules: forbid("GET", imagePath+`/debian-12$`, "", 0, 0)},
		"f-keypair":   {step: "create keypair", rules: forbid("POST", computePath+`/os-keypairs$`, "", 0, 0)},
		"f-builder":   {step: "run builder server", rules: forbid("POST", computePath+`/servers$`, "", 0, 0)},
		"f-ssh": {step: "wait for SSH", rules: forbid("POST", computePath+`/servers/[^/]+/action$`, "os-getConsoleOutput", 0, 0),
			args: []string{"--ssh-timeout", "3s"}},
		"f-upgrade":    {step: "upgrade packages", provision: "packages: [remint-e2e-no-such-package]", output: "Unable to locate package remint-e2e-no-such-package"},
		"f-weave":      {step: "install weave", provision: "weave: {version: 2.8.1, script_url: \"file://" + weaveScript + "\", sha256: \"" + strings.Repeat("0", 64) + "\"}"},
		"f-unattended": {step: "configure unattended-upgrades", provision: "packages: [remint-e2e-break-apt-get]", output: "broken by remint e2e"},
		"f-scripts":    {step: "run scripts", provision: "scripts:\n  - |\n    echo this script fails on purpose\n    exit 3", output: "this script fails on purpose"},
		"f-record":     {step: "record packages", provision: "packages: [remint-e2e-break-dpkg-query]"},
		"f-clean":      {step: "clean", provision: "packages: [remint-e2e-break-truncate]", output: "broken by remint e2e"},
		"f-stop":       {step: "stop builder", rules: forbid("POST", computePath+`/servers/[^/]+/action$`, "os-stop", 0, 0)},
		"f-snapshot":   {step: "snapshot", rules: forbid("POST", computePath+`/servers/[^/]+/action$`, "createImage", 0, 0)},
		"f-waitimage":  {step: "wait for image", rules: forbid("GET", imagePath+`/[0-9a-f-]{36}$`, "", 0, 1)},
		"f-register":   {step: "register candidate", rules: forbid("PATCH", imagePath+`/[0-9a-f-]{36}$`, "", 0, 1)},
		"f-verify":     {step: "verify", rules: forbid("POST", computePath+`/servers$`, "", 1, 1)},
		"f-publish":    {step: "publish", rules: forbid("PATCH", imagePath+`/[0-9a-f-]{36}$`, "", 2, 1)},
	}
}

// TestImagePipeline is issue 8's scenarios through the real binary on the docker driver:
// a build picks up a security update published to the local repository, verifies and
// becomes active, the old version deprecated, image diff shows the package from → to;
// --only-if-changed skips and builds as it should; a failure at every step leaves no
// builder, keypair or image and names the step; kill -9 mid-build, and the next build
// removes the leftovers; Packer builds an image that image register takes over.
func TestImagePipeline(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := startCloud(t)
	p := &pipeline{c: c, dir: t.TempDir(), repo: filepath.Join(c.stateDir, "apt")}

	// Commands that break a builder at a chosen step, shipped as packages.
	broken := filepath.Join(p.dir, "broken")
	require.NoError(t, os.WriteFile(broken, []byte("#!/bin/sh\necho \"$0: broken by remint e2e\" >&2\nexit 1\n"), 0o755))
	for name, path := range map[string]string{
		"remint-e2e-break-apt-get":    "/usr/local/sbin/apt-get",
		"remint-e2e-break-dpkg-query": "/usr/local/bin/dpkg-query",
		"remint-e2e-break-truncate":   "/usr/local/sbin/truncate",
	} {
		p.publish(t, ctx, "--suite", "bookworm", "--name", name, "--version", "1.0", "--file", path+"="+broken)
	}
	p.publish(t, ctx, "--suite", "bookworm", "--name", "demo-libssl", "--version", "1.0-1")

	cases := failCases(broken)
	families := family("deb", "packages: [demo-libssl]") + family("deb-kill", "") + family("deb-packer", "") + family("deb-keep", "") +
		family("deb-keep-builder", "scripts: [\"exit 4\"]")
	for name, fc := range cases {
		families += family(name, fc.provision)
	}
	p.manifest = filepath.Join(p.dir, "remint.yaml")
	// The scenarios' remint processes start at once: create the state file first, as a
	// first command would (two processes migrating a new file at the same moment race).
	st, err := store.Open(ctx, filepath.Join(p.dir, "remint.db"))
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, os.WriteFile(p.manifest, []byte(fmt.Sprintf(pipelineManifest, filepath.Join(p.dir, "remint.db"), families)), 0o644))

	// The scenarios use one family each: they run side by side, a few at a time.
	sem := make(chan struct{}, 4)
	parallel := func(t *testing.T) {
		t.Parallel()
		sem <- struct{}{}
		t.Cleanup(func() { <-sem })
	}
	t.Run("scenarios", func(t *testing.T) {
		t.Run("security update: build, verify, publish, diff; only if changed", func(t *testing.T) {
			parallel(t)
			securityUpdate(t, ctx, p)
		})
		for name, fc := range cases {
			t.Run("failure at "+fc.step, func(t *testing.T) {
				parallel(t)
				failAt(t, ctx, p, name, fc)
			})
		}
		t.Run("kept on request: a failed builder, a failed candidate; promote; the next build cleans up", func(t *testing.T) {
			parallel(t)
			keptOnRequest(t, ctx, p)
		})
		t.Run("kill -9 mid-build; a second build is refused meanwhile; the next one removes the leftovers", func(t *testing.T) {
			parallel(t)
			killMidBuild(t, ctx, p)
		})
		t.Run("packer builds an image; image register takes it over", func(t *testing.T) {
			parallel(t)
			testPackerHandOver(t, ctx, p)
		})
	})

	// Alone, after the others: its timings are the benchmark.
	t.Run("benchmark: pipeline overhead with Docker's engine provisioned", func(t *testing.T) {
		benchPipeline(t, ctx, p)
	})
}

// securityUpdate: a build picks up a security update published to the local repository,
// verifies, becomes active, the old version deprecated; image diff shows the package's
// from → to; --only-if-changed skips when nothing changed and builds when the repository
// got a new version; the booted image is patched, configured and clean.
func securityUpdate(t *testing.T, ctx context.Context, p *pipeline) {
	c := p.c
	{
		out, code := p.build(t, ctx, nil, "deb")
		require.Equal(t, 0, code, out)
		first := regexp.MustCompile(`deb (\d{4}\.\d{2}\.\d+) is active`).FindStringSubmatch(out)
		require.NotNil(t, first, out)
		v1 := p.show(t, ctx, "deb", first[1])
		assert.Equal(t, "active", v1.State)
		assert.Equal(t, "passed", v1.Properties["remint_verification"])
		assert.NotEmpty(t, v1.Properties["remint_package_count"])
		assert.NotEmpty(t, v1.Properties["remint_built_at"])
		assert.NotEmpty(t, v1.Properties["remint_source_image"])

		out, code = p.build(t, ctx, nil, "deb", "--only-if-changed")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "skipped: nothing changed since "+first[1])
		assert.Contains(t, p.show(t, ctx, "deb", first[1]).Properties["remint_build_skipped_reason"], "no upgradable packages")

		p.publish(t, ctx, "--suite", "bookworm-security", "--name", "demo-libssl", "--version", "1.0-1+deb12u1")
		out, code = p.build(t, ctx, nil, "deb", "--only-if-changed")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "build needed: "+first[1]+" has 1 upgradable packages (demo-libssl 1.0-1+deb12u1)")
		second := regexp.MustCompile(`deb (\d{4}\.\d{2}\.\d+) is active`).FindStringSubmatch(out)
		require.NotNil(t, second, out)
		assert.Contains(t, out, "upgraded demo-libssl 1.0-1 → 1.0-1+deb12u1 (security: bookworm-security)")
		assert.Equal(t, "deprecated", p.show(t, ctx, "deb", first[1]).State)
		v2 := p.show(t, ctx, "deb", "latest")
		assert.Equal(t, second[1], v2.Version)

		diff, code := p.run(t, ctx, nil, "image", "diff", "deb", first[1], second[1], "-f", p.manifest, "--log-level", "error")
		require.Equal(t, 0, code, diff)
		assert.Equal(t, fmt.Sprintf("deb %s → %s: 1 packages changed\n  upgraded demo-libssl 1.0-1 → 1.0-1+deb12u1 (security: bookworm-security)\n", first[1], second[1]), diff)

		// The new image, booted: patched, kept patched, and clean.
		s := c.boot(t, ctx, "e2e-from-build", v2.ImageID)
		conn, err := c.ssh(ctx, s.AccessIP, c.hostKeys(t, ctx, s))
		require.NoError(t, err)
		defer conn.Close()
		assert.Equal(t, "1.0-1+deb12u1", run(t, ctx, conn, "dpkg-query", "-W", "-f", "${Version}", "demo-libssl"))
		assert.Contains(t, run(t, ctx, conn, "cat", "/etc/apt/apt.conf.d/52remint-security-only"), "label=Debian-Security")
		assert.Contains(t, run(t, ctx, conn, "cat", "/etc/apt/apt.conf.d/20auto-upgrades"), `Unattended-Upgrade "1"`)
		assert.Equal(t, "", run(t, ctx, conn, "sh", "-c", "ls /var/lib/apt/lists | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$' || true"), "apt lists were cleaned")
		assert.Equal(t, "", run(t, ctx, conn, "sh", "-c", "cat /etc/machine-id; ls /var/tmp"), "machine-id and temporary files were cleaned")
		keys := run(t, ctx, conn, "cat", ".ssh/authorized_keys")
		assert.NotContains(t, keys, "remint-build-", "the build's temporary key is not in the image")

		// A failing probe (the check for changes boots a server) names its step.
		px := newFaultProxy(t, c, &faultRule{Method: "POST", Path: computePath + `/servers$`})
		out, code = p.build(t, ctx, px, "deb", "--only-if-changed")
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, `FAILED at step "check for changes"`)
		assert.Empty(t, p.leftovers(t, ctx, "deb", v1.ImageID, v2.ImageID))
	}
}

// failAt makes one step fail and checks the report names it and nothing is left behind.
func failAt(t *testing.T, ctx context.Context, p *pipeline, family string, fc failCase) {
	var px *faultProxy
	if len(fc.rules) > 0 {
		px = newFaultProxy(t, p.c, fc.rules...)
	}
	out, code := p.build(t, ctx, px, family, fc.args...)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, fmt.Sprintf("FAILED at step %q", fc.step))
	assert.Contains(t, out, "nothing was left behind")
	if fc.output != "" {
		assert.Contains(t, out, fc.output)
	}
	if px != nil {
		assert.NotEmpty(t, px.failed(), "the fault was injected")
	}
	assert.Empty(t, p.leftovers(t, ctx, family))
}

// keptOnRequest: --keep-builder-on-failure keeps the builder and its keypair, and the next
// build removes them; --keep-failed keeps a candidate that failed verification, marked
// failed, and image promote makes it active on the operator's word.
func keptOnRequest(t *testing.T, ctx context.Context, p *pipeline) {
	px := newFaultProxy(t, p.c, &faultRule{Method: "POST", Path: computePath + `/servers$`, Skip: 1, Times: 1})
	out, code := p.build(t, ctx, px, "deb-keep", "--keep-failed")
	require.Equal(t, 1, code, out)
	assert.Contains(t, out, `FAILED at step "verify"`)
	m := regexp.MustCompile(`kept on request: failed candidate deb-keep (\S+) \(image ([0-9a-f-]+)\)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	e := p.show(t, ctx, "deb-keep", m[1])
	assert.Equal(t, "candidate", e.State)
	assert.Equal(t, "failed", e.Properties["remint_verification"])
	assert.Contains(t, e.Properties["remint_verification_reason"], "create verify server")

	got, code := p.run(t, ctx, nil, "image", "promote", "deb-keep", m[1], "-f", p.manifest, "--log-level", "error")
	require.Equal(t, 0, code, got)
	assert.Contains(t, got, "promoted on the operator's word (its verification had failed")
	e = p.show(t, ctx, "deb-keep", "latest")
	assert.Equal(t, m[2], e.ImageID)
	assert.Equal(t, "operator", e.Properties["remint_verification"])

	out, code = p.build(t, ctx, nil, "deb-keep-builder", "--keep-builder-on-failure")
	require.Equal(t, 1, code, out)
	assert.Contains(t, out, `FAILED at step "run scripts"`)
	assert.Contains(t, out, "kept on request: builder server")
	assert.Contains(t, out, "kept on request: keypair")
	left := p.leftovers(t, ctx, "deb-keep-builder")
	require.Len(t, left, 2, "the builder and its keypair: %v", left)
	out, code = p.build(t, ctx, nil, "deb-keep-builder")
	require.Equal(t, 1, code, out)
	for _, l := range left {
		assert.Regexp(t, `removed leftover: \w+ `+regexp.QuoteMeta(strings.Fields(l)[1]), out)
	}
	assert.Empty(t, p.leftovers(t, ctx, "deb-keep-builder"))
}

// killMidBuild kills a build with SIGKILL while its builder runs: a second build is
// refused while the first holds the family's lease, and once the lease expired the next
// build removes the killed build's builder and keypair and succeeds.
func killMidBuild(t *testing.T, ctx context.Context, p *pipeline) {
	c := p.c
	cmd := exec.CommandContext(ctx, c.bin, "image", "build", "deb-kill", "-f", p.manifest)
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML, "OS_CLOUD=remint-sim", "REMINT_LEASE_TTL=3s")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "wait for SSH") {
		require.True(t, time.Now().Before(deadline), "the build did not reach its builder:\n%s", out.String())
		time.Sleep(100 * time.Millisecond)
	}
	refused, code := p.run(t, ctx, nil, "image", "build", "deb-kill", "-f", p.manifest)
	assert.Equal(t, 1, code, refused)
	assert.Contains(t, refused, "image family deb-kill is being changed by `remint image build deb-kill`")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-waited
	left := p.leftovers(t, ctx, "deb-kill")
	require.NotEmpty(t, left, "a killed build leaves its builder and keypair")
	t.Logf("left by the killed build: %v", left)
	time.Sleep(4 * time.Second) // the lease (TTL 3s) expires

	again, code := p.build(t, ctx, nil, "deb-kill")
	require.Equal(t, 0, code, again)
	for _, l := range left {
		name := strings.Fields(l)[1]
		assert.Regexp(t, `removed leftover: \w+ `+regexp.QuoteMeta(name), again)
	}
	latest := p.show(t, ctx, "deb-kill", "latest")
	assert.Empty(t, p.leftovers(t, ctx, "deb-kill", latest.ImageID))
}

// benchPipeline builds an image that installs Docker's engine (Debian's docker.io and its
// dependencies, from the local repository) and prints, not asserts, issue 8's figures: the
// time from "build started" to "image active" split by step, and the pipeline overhead
// (that time against the summed time of the provisioning commands themselves).
func benchPipeline(t *testing.T, ctx context.Context, p *pipeline) {
	out := p.c.remint(t, ctx, "sim", "publish-package", "--repo-dir", p.repo, "--docker")
	m := regexp.MustCompile(`published docker.io (\S+) \(bookworm\)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	bench := filepath.Join(p.dir, "bench.yaml")
	fam := family("deb-bench", "docker: \""+m[1]+"\"\npackages: [demo-libssl]")
	require.NoError(t, os.WriteFile(bench, []byte(fmt.Sprintf(pipelineManifest, filepath.Join(p.dir, "bench.db"), fam+family("deb", ""))), 0o644))
	got, code := p.run(t, ctx, nil, "image", "build", "deb-bench", "-f", bench, "--output", "json", "--log-level", "error")
	require.Equal(t, 0, code, got)
	var sum struct {
		Type      string        `json:"type"`
		Duration  time.Duration `json:"duration_ns"`
		Provision time.Duration `json:"provision_ns"`
		Steps     []struct {
			Step     string        `json:"step"`
			Duration time.Duration `json:"duration_ns"`
		} `json:"steps"`
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &sum), got)
	require.Equal(t, "summary", sum.Type)
	var b strings.Builder
	fmt.Fprintf(&b, "image pipeline benchmark (docker driver, provisioning: full upgrade, docker.io %s, demo-libssl):\n", m[1])
	for _, s := range sum.Steps {
		fmt.Fprintf(&b, "  %-32s %7.1fs %5.1f%%\n", s.Step, s.Duration.Seconds(), 100*s.Duration.Seconds()/sum.Duration.Seconds())
	}
	overhead := sum.Duration - sum.Provision
	fmt.Fprintf(&b, "  build started → image active: %.1fs; provisioning commands: %.1fs; pipeline overhead: %.1fs = %.0f%% of the provisioning time (goal <= 25%%)\n",
		sum.Duration.Seconds(), sum.Provision.Seconds(), overhead.Seconds(), 100*overhead.Seconds()/sum.Provision.Seconds())
	t.Log(b.String())
}
