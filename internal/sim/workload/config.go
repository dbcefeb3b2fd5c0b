package workload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Keys that control a workload. Each may be an image property, a server metadata key or a
// line in the server's user data ("key: value" as in cloud-config, or "key=value" as in a
// shell script, optionally behind a "#"). A server-level setting beats the image's:
// metadata first, then user data, then image properties.
const (
	// KeyVersion is the image property holding the image version (YYYY.MM.N).
	KeyVersion = "remint_version"
	// KeyHealth is "healthy" (the default) or "unhealthy" (/healthz answers 503).
	KeyHealth = "remint_workload_health"
	// KeyStartDelay is a Go duration ("2s") to wait before listening, to simulate a slow boot.
	KeyStartDelay = "remint_workload_start_delay"
)

// Config is everything one workload instance serves. It is also the JSON document read by
// `remint workload --info-file`: the Info fields plus "health" and "start_delay".
type Config struct {
	Info
	Unhealthy  bool
	StartDelay time.Duration
}

// ConfigFrom resolves what a server serves from what it was booted with. info.ImageVersion
// is filled from imageProps[KeyVersion] when empty. Invalid control values are errors, so a
// driver can fail the boot instead of silently ignoring a typo.
func ConfigFrom(info Info, imageProps, metadata map[string]string, userData []byte) (Config, error) {
	cfg := Config{Info: info}
	if cfg.ImageVersion == "" {
		cfg.ImageVersion = imageProps[KeyVersion]
	}
	ud := userDataSettings(userData)
	lookup := func(key string) (value, source string, ok bool) {
		if v, ok := metadata[key]; ok {
			return v, "metadata", true
		}
		if v, ok := ud[key]; ok {
			return v, "user data", true
		}
		if v, ok := imageProps[key]; ok {
			return v, "image property", true
		}
		return "", "", false
	}
	if v, src, ok := lookup(KeyHealth); ok {
		unhealthy, err := parseHealth(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s %s: %w", src, KeyHealth, err)
		}
		cfg.Unhealthy = unhealthy
	}
	if v, src, ok := lookup(KeyStartDelay); ok {
		d, err := parseDelay(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s %s: %w", src, KeyStartDelay, err)
		}
		cfg.StartDelay = d
	}
	return cfg, nil
}

func parseHealth(v string) (unhealthy bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "healthy":
		return false, nil
	case "unhealthy":
		return true, nil
	default:
		return false, fmt.Errorf("%q: want healthy or unhealthy", v)
	}
}

func parseDelay(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", v, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: must not be negative", v)
	}
	return d, nil
}

// userDataLine matches "remint_workload_x: value" and "remint_workload_x=value", optionally
// commented out with "#" so a shell script or cloud-config stays valid.
var userDataLine = regexp.MustCompile(`^\s*(?:#\s*)?(remint_workload_[a-z_]+)\s*[:=]\s*["']?([^"'\s]*)["']?\s*$`)

func userDataSettings(userData []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(userData), "\n") {
		if m := userDataLine.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

// configJSON is Config's wire form: durations as Go duration strings.
type configJSON struct {
	Info
	Health     string `json:"health,omitempty"`
	StartDelay string `json:"start_delay,omitempty"`
}

// MarshalJSON writes the info-file form of c.
func (c Config) MarshalJSON() ([]byte, error) {
	j := configJSON{Info: c.Info}
	if c.Unhealthy {
		j.Health = "unhealthy"
	}
	if c.StartDelay > 0 {
		j.StartDelay = c.StartDelay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the info-file form, validating health and start_delay. Unknown
// fields are errors so typos surface.
func (c *Config) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j configJSON
	if err := dec.Decode(&j); err != nil {
		return err
	}
	unhealthy, err := parseHealth(j.Health)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	d, err := parseDelay(j.StartDelay)
	if err != nil {
		return fmt.Errorf("start_delay: %w", err)
	}
	*c = Config{Info: j.Info, Unhealthy: unhealthy, StartDelay: d}
	return nil
}

// ReadConfig decodes an info file.
func ReadConfig(r io.Reader) (Config, error) {
	var c Config
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return Config{}, fmt.Errorf("decode workload info: %w", err)
	}
	return c, nil
}
