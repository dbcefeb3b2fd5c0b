package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyPolicy decides whether a server's host key is the one expected: Fingerprints
// (from the console log), KnownHostsFile, or InsecureIgnoreHostKey.
type HostKeyPolicy interface {
	callback() (ssh.HostKeyCallback, error)
	String() string
}

// Fingerprints accepts a host key whose SHA256 fingerprint ("SHA256:…") is in the list.
type Fingerprints []string

func (f Fingerprints) callback() (ssh.HostKeyCallback, error) {
	if len(f) == 0 {
		return nil, errors.New("no host key fingerprints to verify against")
	}
	return func(host string, _ net.Addr, key ssh.PublicKey) error {
		got := ssh.FingerprintSHA256(key)
		if slices.Contains(f, got) {
			return nil
		}
		return &HostKeyMismatchError{Host: host, Offered: got, Expected: f}
	}, nil
}

func (f Fingerprints) String() string { return "fingerprints " + strings.Join(f, ", ") }

// HostKeyMismatchError says a server offered a host key that is not the expected one:
// possibly a man in the middle, so the connection is refused. It is never retried.
type HostKeyMismatchError struct {
	Host    string
	Offered string // SHA256 fingerprint of the key the server offered
	// Expected are the fingerprints that would have passed; empty when Source has no key
	// for the host at all.
	Expected []string
	// Source is where the expected keys came from when not the console log, e.g.
	// "known_hosts /root/.ssh/known_hosts".
	Source string
}

func (e *HostKeyMismatchError) Error() string {
	switch {
	case e.Source != "" && len(e.Expected) == 0:
		return fmt.Sprintf("host key verification failed for %s: it offered %s, and %s has no key for it (refusing to connect)",
			e.Host, e.Offered, e.Source)
	case e.Source != "":
		return fmt.Sprintf("host key verification failed for %s: it offered %s, %s expects %s (refusing to connect)",
			e.Host, e.Offered, e.Source, strings.Join(e.Expected, ", "))
	}
	return fmt.Sprintf("host key verification failed for %s: it offered %s, expected one of %s (refusing to connect)",
		e.Host, e.Offered, strings.Join(e.Expected, ", "))
}

// KnownHostsFile verifies host keys against an OpenSSH known_hosts file.
type KnownHostsFile string

func (k KnownHostsFile) callback() (ssh.HostKeyCallback, error) {
	cb, err := knownhosts.New(string(k))
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", string(k), unwrapPath(err))
	}
	return func(host string, addr net.Addr, key ssh.PublicKey) error {
		err := cb(host, addr, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			mm := &HostKeyMismatchError{Host: host, Offered: ssh.FingerprintSHA256(key), Source: k.String()}
			for _, w := range ke.Want {
				mm.Expected = append(mm.Expected, ssh.FingerprintSHA256(w.Key))
			}
			return mm
		}
		return err
	}, nil
}

func (k KnownHostsFile) String() string { return "known_hosts " + string(k) }

// InsecureIgnoreHostKey accepts any host key. Only for an operator who asked for it
// explicitly (--insecure-ignore-host-key); Dial logs a warning every time it is used.
type InsecureIgnoreHostKey struct{}

func (InsecureIgnoreHostKey) callback() (ssh.HostKeyCallback, error) {
	return ssh.InsecureIgnoreHostKey(), nil
}
func (InsecureIgnoreHostKey) String() string { return "no host key verification (insecure)" }

// HostKeysFromConsole extracts the SSH host keys a server printed to its console at boot,
// as cloud-init does, and returns their SHA256 fingerprints. It reads both blocks:
//
//	-----BEGIN SSH HOST KEY FINGERPRINTS-----
//	256 SHA256:9Q… root@web-0 (ED25519)
//	-----END SSH HOST KEY FINGERPRINTS-----
//	-----BEGIN SSH HOST KEY KEYS-----
//	ssh-ed25519 AAAAC3… root@web-0
//	-----END SSH HOST KEY KEYS-----
//
// Lines may carry a prefix (cloud-init writes "ec2: " before each). When the log shows the
// blocks several times (reboots), every key is returned once.
func HostKeysFromConsole(log string) (Fingerprints, error) {
	var out Fingerprints
	add := func(fp string) {
		if !slices.Contains(out, fp) {
			out = append(out, fp)
		}
	}
	block := ""
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, "-----BEGIN SSH HOST KEY FINGERPRINTS-----"):
			block = "fp"
			continue
		case strings.Contains(line, "-----BEGIN SSH HOST KEY KEYS-----"):
			block = "keys"
			continue
		case strings.Contains(line, "-----END SSH HOST KEY"):
			block = ""
			continue
		}
		switch block {
		case "fp":
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "SHA256:") {
					add(f)
				}
			}
		case "keys":
			// Strip any prefix before the key type.
			for _, typ := range []string{"ssh-ed25519", "ecdsa-sha2-", "ssh-rsa", "sk-"} {
				if i := strings.Index(line, typ); i >= 0 {
					line = line[i:]
					break
				}
			}
			key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err == nil {
				add(ssh.FingerprintSHA256(key))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (no \"-----BEGIN SSH HOST KEY FINGERPRINTS-----\" block)", ErrNoConsoleHostKeys)
	}
	return out, nil
}

// FormatConsoleHostKeys renders host keys the way cloud-init prints them to the console;
// simulators and image builds use it so that HostKeysFromConsole can read them back.
func FormatConsoleHostKeys(hostname string, keys []ssh.PublicKey) string {
	var b bytes.Buffer
	b.WriteString("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%d %s root@%s (%s)\n", keyBits(k), ssh.FingerprintSHA256(k), hostname, keyTypeName(k))
	}
	b.WriteString("-----END SSH HOST KEY FINGERPRINTS-----\n")
	b.WriteString("-----BEGIN SSH HOST KEY KEYS-----\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s root@%s\n", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), hostname)
	}
	b.WriteString("-----END SSH HOST KEY KEYS-----\n")
	return b.String()
}

func keyTypeName(k ssh.PublicKey) string {
	switch k.Type() {
	case ssh.KeyAlgoED25519:
		return "ED25519"
	case ssh.KeyAlgoRSA:
		return "RSA"
	default:
		if strings.HasPrefix(k.Type(), "ecdsa") {
			return "ECDSA"
		}
		return strings.ToUpper(k.Type())
	}
}

func keyBits(k ssh.PublicKey) int {
	switch k.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256:
		return 256
	case ssh.KeyAlgoECDSA384:
		return 384
	case ssh.KeyAlgoECDSA521:
		return 521
	}
	if ck, ok := k.(ssh.CryptoPublicKey); ok {
		if rk, ok := ck.CryptoPublicKey().(interface{ Size() int }); ok {
			return rk.Size() * 8
		}
	}
	return 0
}
