package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/orchestrator"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key; the certificate
// is its own CA.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "remint test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

var httpsListenLine = regexp.MustCompile(`listening on (https://\S+)`)

// `remint serve` over HTTPS with tokens: it starts without a token and says how to make
// one; every API path answers 401 without a (valid) token, 403 for a read-only token on a
// write; /healthz and /readyz stay open; `remint job --server https://… --ca-cert` works
// with $REMINT_TOKEN; a job queued with a token records it; /metrics (read-only token)
// shows the job, the rollout's duration, the address moves and the image's age after a
// real rebuild on the simulator; River's UI answers under /riverui/ on SQLite; a revoked
// token is refused.
func TestServeAccessTLSMetricsRiverUI(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 0)
	w.register("debian-12-a")
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")
	cert, key := selfSigned(t, t.TempDir())

	half := w.start(nil, "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert)
	require.Equal(t, 2, half.wait(t), "%s", half)
	require.Contains(t, half.stderr.String(), "--tls-cert and --tls-key go together")

	// No token exists yet: the daemon starts, says how to make one, and refuses.
	p := w.start(nil, "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	pem, err := os.ReadFile(cert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var url string
	require.Eventually(t, func() bool {
		m := httpsListenLine.FindStringSubmatch(p.stdout.String())
		if m == nil {
			return false
		}
		url = m[1]
		resp, err := hc.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 20*time.Millisecond, "serve becomes ready over HTTPS: %s", p)
	require.Contains(t, p.stderr.String(), "remint token create --name admin")

	call := func(method, path, token, body string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, hdr := call("GET", "/v1/jobs", "", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Equal(t, `Bearer realm="remint"`, hdr.Get("WWW-Authenticate"))
	require.JSONEq(t, `{"error":"unauthorized: a valid bearer token is required"}`, body)
	for _, path := range []string{"/metrics", "/riverui/", "/nowhere"} {
		code, body, _ = call("GET", path, "", "")
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", path, body)
	}
	code, _, _ = call("GET", "/healthz", "", "")
	require.Equal(t, http.StatusOK, code)
	code, body, _ = call("GET", "/openapi.json", "", "") // the description is open, as it says itself
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"openapi"`)

	// Plain HTTP to the HTTPS port gets nothing useful; an unknown CA is refused.
	_, err = http.Get(url + "/healthz")
	require.Error(t, err)
	_, err = (&http.Client{Timeout: 10 * time.Second}).Get(url + "/healthz")
	require.Error(t, err, "the system's roots do not trust a self-signed certificate")

	// Tokens are made while the daemon runs: no restart needed.
	admin := w.token()
	ro := w.start(nil, "token", "create", "--name", "viewer", "--read-only", "--output", "json")
	require.Equal(t, 0, ro.wait(t), "%s", ro)
	var created struct {
		Name     string `json:"name"`
		ReadOnly bool   `json:"read_only"`
		Token    string `json:"token"`
	}
	require.NoError(t, json.Unmarshal([]byte(ro.stdout.String()), &created))
	require.True(t, created.ReadOnly)
	viewer := created.Token
	dupe := w.start(nil, "token", "create", "--name", "viewer")
	require.Equal(t, 2, dupe.wait(t), "%s", dupe)

	code, body, _ = call("GET", "/v1/jobs", admin+"x", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body, _ = call("POST", "/v1/jobs", viewer, `{"kind":"rebuild","target":"web"}`)
	require.Equal(t, http.StatusForbidden, code, body)
	require.Contains(t, body, "token viewer is read-only")
	code, body, _ = call("GET", "/v1/jobs", viewer, "")
	require.Equal(t, http.StatusOK, code, body)

	// The CLI through the daemon: without a token it is told how to get one; with
	// $REMINT_TOKEN and --ca-cert it works and the job records the token's name.
	noTok := w.start(nil, "job", "list", "--server", url, "--ca-cert", cert)
	require.Equal(t, 1, noTok.wait(t), "%s", noTok)
	require.Contains(t, noTok.stderr.String(), "set $REMINT_TOKEN or --token")
	noCA := w.start(w.tokenEnv(), "job", "list", "--server", url)
	require.Equal(t, 1, noCA.wait(t), "%s", noCA)
	require.Contains(t, noCA.stderr.String(), "give the CA that signed its certificate with --ca-cert")
	submit := w.start(append(w.tokenEnv(), envCACert+"="+cert), "job", "submit", "rebuild", "web", "--server", url, "--output", "json")
	require.Equal(t, 0, submit.wait(t), "%s", submit)
	require.NotContains(t, submit.stdout.String()+submit.stderr.String(), admin, "the token is never printed")
	var job orchestrator.Job
	require.NoError(t, json.Unmarshal([]byte(submit.stdout.String()), &job))
	require.Equal(t, "token admin", job.RequestedBy)

	client := w.client(url)
	client.HTTP = hc
	ctx := context.Background()
	require.Eventually(t, func() bool {
		job, err = client.Get(ctx, job.ID)
		return err == nil && (job.Status == orchestrator.StatusSucceeded || job.Status == orchestrator.StatusFailed)
	}, 2*time.Minute, 100*time.Millisecond, "the rebuild finishes: %s", p)
	require.Equal(t, orchestrator.StatusSucceeded, job.Status, "reason %q; %s", job.Reason, p)
	require.Equal(t, 2, job.Installed)
	require.Contains(t, job.Events[0].Message, "requested by token admin")
	w.assertServing(version)
	job, err = client.Retry(ctx, job.ID)
	require.NoError(t, err)
	require.Contains(t, job.Events[len(job.Events)-1].Message, "retry requested by token admin")
	require.Eventually(t, func() bool {
		job, err = client.Get(ctx, job.ID)
		return err == nil && job.Status == orchestrator.StatusSucceeded
	}, 2*time.Minute, 100*time.Millisecond, "the retried rebuild finishes (nothing to replace): %s", p)

	// Metrics, with the read-only token.
	code, body, _ = call("GET", "/metrics", viewer, "")
	require.Equal(t, http.StatusOK, code, body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, body)
	value := func(name string, labels map[string]string) (float64, bool) {
		f, ok := fams[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
		return 0, false
	}
	mustValue := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := value(name, labels)
		require.True(t, ok, "%s%v in\n%s", name, labels, body)
		return v
	}
	require.Equal(t, 1.0, mustValue("remint_jobs", map[string]string{"kind": "rebuild", "status": "succeeded"}))
	require.Equal(t, 1.0, mustValue("remint_rollout_duration_seconds", map[string]string{"group": "web", "result": "completed"}))
	require.Equal(t, 2.0, mustValue("remint_failover_moves_total", map[string]string{"group": "web", "direction": "to-replacement"}))
	require.Equal(t, 2.0, mustValue("remint_job_duration_seconds", map[string]string{"kind": "rebuild", "status": "succeeded"}), "two attempts ended")
	age := mustValue("remint_image_age_days", map[string]string{"family": "debian-12"})
	require.True(t, age >= 0 && age < 1, "the image was built minutes ago: %v days", age)
	_, failures := value("remint_health_check_failures_total", map[string]string{"group": "web"})
	require.False(t, failures, "no health check failed")

	// River's UI on SQLite: the page and its API.
	code, body, _ = call("GET", "/riverui/", viewer, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "<html")
	code, body, _ = call("GET", "/riverui/api/jobs?state=completed&limit=5", viewer, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"kind":"remint"`)

	list := w.start(nil, "token", "list")
	require.Equal(t, 0, list.wait(t), "%s", list)
	out := list.stdout.String()
	require.Regexp(t, `(?m)^NAME\s+ACCESS\s+CREATED \(UTC\)\s+LAST USED \(UTC\)\s+REVOKED \(UTC\)$`, out)
	require.Regexp(t, `(?m)^admin\s+read-write\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+-$`, out)
	require.Regexp(t, `(?m)^viewer\s+read-only\s+`, out)
	require.NotContains(t, out, "remint_", "never a secret")

	rev := w.start(nil, "token", "revoke", "viewer")
	require.Equal(t, 0, rev.wait(t), "%s", rev)
	code, body, _ = call("GET", "/metrics", viewer, "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Contains(t, body, "revoked")
	unknown := w.start(nil, "token", "revoke", "nobody")
	require.Equal(t, 2, unknown.wait(t), "%s", unknown)
}
