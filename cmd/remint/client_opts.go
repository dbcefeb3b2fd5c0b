package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/orchestrator"
)

// Environment variables of the daemon's clients.
const (
	envToken  = "REMINT_TOKEN"
	envCACert = "REMINT_CA_CERT"
)

// clientOptions are how a command reaches a daemon's API: its URL (--server; empty: act
// locally), its bearer token and the CA that signed an https:// daemon's certificate (else
// the system's roots).
type clientOptions struct {
	server string
	token  string
	caCert string
}

// flags adds --server (with the command's own help), --token and --ca-cert.
func (o *clientOptions) flags(cmd *cobra.Command, serverHelp string) {
	cmd.Flags().StringVar(&o.server, "server", os.Getenv("REMINT_SERVER"), serverHelp)
	// The token's default is read at run time, not shown as the flag's default: --help
	// must never print a secret.
	cmd.Flags().StringVar(&o.token, "token", "", "bearer token for --server (default $"+envToken+"; remint token create makes one)")
	cmd.Flags().StringVar(&o.caCert, "ca-cert", "", "PEM CA certificate to trust for an https:// --server (default $"+envCACert+", else the system's roots)")
}

// client returns the API client of the daemon at --server; a URL that is not http:// or
// https:// is a usage error.
func (o *clientOptions) client() (*orchestrator.Client, error) {
	if !strings.HasPrefix(o.server, "http://") && !strings.HasPrefix(o.server, "https://") {
		return nil, usageErrorf("--server %q: want an http:// or https:// URL", o.server)
	}
	token := o.token
	if token == "" {
		token = os.Getenv(envToken)
	}
	hc, err := apiHTTPClient(firstNonEmpty(o.caCert, os.Getenv(envCACert)))
	if err != nil {
		return nil, err
	}
	return &orchestrator.Client{Base: o.server, Token: token, HTTP: hc}, nil
}

// apiHTTPClient trusts the system's roots plus the PEM certificates in caFile, if given.
func apiHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageErrorf("--ca-cert: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca-cert %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// changeClient is client for a change the daemon makes within the request, waiting up to
// wait for the group's lease (--wait-lock, sent in whole seconds): the request may last
// that much longer.
func (o *clientOptions) changeClient(wait time.Duration) (*orchestrator.Client, int, error) {
	if wait < 0 {
		return nil, 0, usageErrorf("--wait-lock %s: must not be negative", wait)
	}
	if wait > orchestrator.MaxWaitLock {
		return nil, 0, usageErrorf("--wait-lock %s with --server: at most %s (the request waits that long)", wait, orchestrator.MaxWaitLock)
	}
	c, err := o.client()
	if err != nil {
		return nil, 0, err
	}
	c.HTTP.Timeout += wait
	return c, int((wait + time.Second - 1) / time.Second), nil
}
