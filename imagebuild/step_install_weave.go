package imagebuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/remote"
)

// weavePath is where the Weave Net launch script is installed.
const weavePath = "/usr/local/bin/weave"

// stepInstallWeave installs the family's pinned Weave Net launch script, its SHA-256
// verified before it is made executable: an https:// script is fetched by the builder
// and checked there, a file:/// script is read and checked here, then uploaded.
type stepInstallWeave struct{}

func (*stepInstallWeave) Name() string { return "install weave" }

func (s *stepInstallWeave) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	w := b.opts.Family.Provision.Weave
	if w == nil {
		return multistep.ActionContinue
	}
	c := conn(state, roleBuilder)
	u, err := url.Parse(w.ScriptURL)
	if err != nil {
		return halt(state, fmt.Errorf("weave script URL %q: %w", w.ScriptURL, err))
	}
	switch u.Scheme {
	case "file":
		raw, err := os.ReadFile(u.Path)
		if err != nil {
			return halt(state, fmt.Errorf("read the weave script: %w", err))
		}
		sum := sha256.Sum256(raw)
		if got := hex.EncodeToString(sum[:]); got != w.SHA256 {
			return halt(state, fmt.Errorf("weave script %s has SHA-256 %s, the manifest pins %s: refusing it", u.Path, got, w.SHA256))
		}
		if err := c.Upload(ctx, weavePath, 0o755, bytes.NewReader(raw), remote.WithSudo()); err != nil {
			return halt(state, fmt.Errorf("install weave %s: %w", w.Version, err))
		}
	case "https":
		tmp := weavePath + ".remint-download"
		for _, argv := range [][]string{
			sudo("curl", "-fsSL", "--retry", "3", "-o", tmp, "--", w.ScriptURL),
			sudo("sh", "-c", `echo "$1  $2" | sha256sum -c --strict - && chmod 0755 "$2" && mv -f "$2" "$3"`, "verify-weave", w.SHA256, tmp, weavePath),
		} {
			if _, err := b.run(ctx, c, true, argv...); err != nil {
				_, _ = b.run(ctx, c, false, sudo("rm", "-f", tmp)...)
				return halt(state, fmt.Errorf("install weave %s from %s: %w", w.Version, w.ScriptURL, err))
			}
		}
	default:
		return halt(state, fmt.Errorf("weave script URL %q: want https:// or file:///", w.ScriptURL))
	}
	b.log.Info("weave installed", "version", strings.TrimPrefix(w.Version, "v"), "path", weavePath)
	return multistep.ActionContinue
}

func (*stepInstallWeave) Cleanup(multistep.StateBag) {}
