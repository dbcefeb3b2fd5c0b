package inplace

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/remint-dev/remint/internal/remote"
)

// WeavePath is where the weave launch script lives on servers.
const WeavePath = "/usr/local/bin/weave"

// ChecksumError refuses a downloaded script whose digest is not the pinned one.
type ChecksumError struct {
	URL, Expected, Actual string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("weave script %s has SHA-256 %s, the manifest pins %s: refused, no server was touched", e.URL, e.Actual, e.Expected)
}

// FetchScript downloads the launch script (http(s):// or file:///) and verifies its
// SHA-256 against the pin before anything else happens.
func FetchScript(ctx context.Context, hc *http.Client, spec WeaveSpec) ([]byte, error) {
	u, err := url.Parse(spec.ScriptURL)
	if err != nil {
		return nil, fmt.Errorf("weave script_url %q: %w", spec.ScriptURL, err)
	}
	var body []byte
	switch u.Scheme {
	case "file":
		body, err = os.ReadFile(u.Path)
		if err != nil {
			return nil, fmt.Errorf("read weave script: %w", err)
		}
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.ScriptURL, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("download weave script %s: %w", spec.ScriptURL, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("download weave script %s: HTTP %s", spec.ScriptURL, resp.Status)
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			return nil, fmt.Errorf("download weave script %s: %w", spec.ScriptURL, err)
		}
	default:
		return nil, fmt.Errorf("weave script_url %q: want https://, http:// or file:///", spec.ScriptURL)
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(spec.SHA256) {
		return nil, &ChecksumError{URL: spec.ScriptURL, Expected: strings.ToLower(spec.SHA256), Actual: got}
	}
	return body, nil
}

// ParseWeaveVersion reads `weave version`: "weave script 2.8.1" (then the router's line).
func ParseWeaveVersion(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "weave script "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func normVersion(v string) string { return strings.TrimPrefix(v, "v") }

// weave installs the pinned launch script and relaunches Weave Net with the peers:
// weave stop (old script), install, weave launch PEERS…, then weave version must say
// the pinned version and weave status must answer.
func (p *patcher) weave(ctx context.Context, c Conn, s Server) (*WeaveResult, error) {
	spec := p.o.WeaveSpec
	res := &WeaveResult{To: normVersion(spec.Version), Peers: []string{}}
	for _, peer := range spec.Peers {
		a, err := netip.ParseAddr(peer)
		if err != nil {
			return res, fmt.Errorf("weave peer %q: not an IP address", peer)
		}
		if a.String() != s.Addr {
			res.Peers = append(res.Peers, a.String())
		}
	}
	cur, err := c.Run(ctx, []string{"sh", "-c", `test -x "$1" || exit 0; sudo -n "$1" version`, "weave-version", WeavePath})
	if err != nil {
		return res, fmt.Errorf("read the weave version on %s: %w", s.Name, err)
	}
	res.From = ParseWeaveVersion(cur.Stdout)
	if res.From == res.To || p.o.DryRun {
		return res, nil
	}
	if err := c.Upload(ctx, WeavePath+".remint-new", 0o755, bytes.NewReader(p.weaveScript), remote.WithSudo()); err != nil {
		return res, fmt.Errorf("upload the weave script to %s: %w", s.Name, err)
	}
	steps := [][]string{}
	if res.From != "" {
		steps = append(steps, []string{"sudo", "-n", WeavePath, "stop"})
	}
	steps = append(steps,
		[]string{"sudo", "-n", "mv", "-f", WeavePath + ".remint-new", WeavePath},
		append([]string{"sudo", "-n", WeavePath, "launch"}, res.Peers...),
	)
	for _, argv := range steps {
		r, err := c.Run(ctx, argv)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			return res, fmt.Errorf("weave upgrade on %s: %w", s.Name, err)
		}
	}
	res.Changed = true
	ver, err := c.Run(ctx, []string{"sudo", "-n", WeavePath, "version"})
	if err == nil {
		err = ver.Err()
	}
	if err != nil {
		return res, fmt.Errorf("weave version on %s: %w", s.Name, err)
	}
	if got := ParseWeaveVersion(ver.Stdout); got != res.To {
		return res, fmt.Errorf("weave on %s reports version %q after the upgrade, want %s", s.Name, got, res.To)
	}
	st, err := c.Run(ctx, []string{"sudo", "-n", WeavePath, "status"})
	if err == nil {
		err = st.Err()
	}
	if err != nil {
		return res, fmt.Errorf("weave status on %s after the launch: %w", s.Name, err)
	}
	return res, nil
}
