package openstack

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// DefaultComputeMicroversion is the Nova microversion requested unless
// ConnectOptions says otherwise: 2.79 has createImage answering the image id in the
// body (2.45+), networks "none"/"auto" (2.37+) and server tags (2.26+), and is offered
// by every supported OpenStack release (Train and later).
const DefaultComputeMicroversion = "2.79"

// responseHeaderTimeout bounds the wait for an answer once a request is sent.
const responseHeaderTimeout = 2 * time.Minute

// ConnectOptions says which cloud to connect to and how to behave.
type ConnectOptions struct {
	// Cloud is the clouds.yaml entry. "" means $OS_CLOUD; when that is empty too, the
	// OS_* variables (OS_AUTH_URL, OS_USERNAME, …) describe the cloud.
	Cloud string
	// CloudsFile is an explicit clouds.yaml path. "" means $OS_CLIENT_CONFIG_FILE, else
	// the standard locations (./clouds.yaml, ~/.config/openstack/, /etc/openstack/).
	CloudsFile string
	// Logger receives debug lines: retries, and on connect which cloud, principal and
	// endpoints were reached; nil discards. Secrets are never logged.
	Logger *slog.Logger
	// Retry is the retry and wait policy; zero fields take DefaultRetryPolicy's.
	Retry RetryPolicy
	// ComputeMicroversion is the Nova microversion; "" means DefaultComputeMicroversion.
	// It must be at least 2.45 for CreateServerImage to read the image id.
	ComputeMicroversion string
}

// Client is a connection to one OpenStack project: Nova, Glance and Neutron behind a
// Keystone token that is renewed when it expires. It is safe for concurrent use.
type Client struct {
	log      *slog.Logger
	policy   RetryPolicy
	now      func() time.Time
	provider *gophercloud.ProviderClient
	compute  *gophercloud.ServiceClient
	image    *gophercloud.ServiceClient
	network  *gophercloud.ServiceClient

	requests atomic.Int64
	retries  atomic.Int64

	// Name → id resolutions of flavors and networks, which rarely change, so that a
	// rollout does not pay a list call per server for them.
	mu       sync.Mutex
	flavors  map[string]Flavor
	networks map[string]Network
}

// Stats counts what a Client has done, for benchmarks ("cloud API calls per replaced
// server") and logs.
type Stats struct {
	// APICalls is the number of HTTP requests sent to the cloud: authentication,
	// retries and paging included.
	APICalls int64
	// Retries is how many of those were repeats of a failed call.
	Retries int64
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{APICalls: c.requests.Load(), Retries: c.retries.Load()}
}

// countingTransport counts every request sent through it.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// cloudConfig is where and as whom to authenticate.
type cloudConfig struct {
	source string // "clouds.yaml entry X" or "OS_* environment", for messages
	auth   gophercloud.AuthOptions
	ep     gophercloud.EndpointOpts
	tls    *tls.Config
}

// Connect authenticates against the cloud opts names and finds the compute, image and
// network endpoints in the catalog.
func Connect(ctx context.Context, opts ConnectOptions) (*Client, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := loadCloudConfig(opts, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("connect to OpenStack: %w", err)
	}
	cfg.auth.AllowReauth = true

	c := &Client{
		log:      log,
		policy:   opts.Retry.withDefaults(),
		now:      time.Now,
		flavors:  map[string]Flavor{},
		networks: map[string]Network{},
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = cfg.tls
	// A service that accepted the request but never answers must not hang a caller
	// whose ctx has no deadline; the bound starts after the body is sent, so uploads
	// of any size are unaffected. A timeout is retryable (IsRetryable).
	transport.ResponseHeaderTimeout = responseHeaderTimeout
	httpClient := http.Client{Transport: countingTransport{next: transport, n: &c.requests}}

	// gophercloud retries nothing on its own unless ProviderClient.RetryFunc or
	// RetryBackoffFunc is set; we leave both nil so that call() is the only retry
	// loop and 429s are not retried twice over.
	op := fmt.Sprintf("authenticate to %s as %s", redactURL(cfg.auth.IdentityEndpoint), principal(cfg.auth))
	provider, err := call(ctx, c, op, idempotent, func(ctx context.Context) (*gophercloud.ProviderClient, error) {
		return config.NewProviderClient(ctx, cfg.auth, config.WithHTTPClient(httpClient))
	})
	if err != nil {
		return nil, fmt.Errorf("connect to OpenStack (%s): %w", cfg.source, err)
	}
	c.provider = provider

	// The catalog gives the endpoints; gophercloud GETs the unversioned image and
	// network endpoints to check they offer v2 (it cannot take ctx for that).
	endpoint := func(service string, newClient func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)) (*gophercloud.ServiceClient, error) {
		op := fmt.Sprintf("find the %s endpoint (region %q, interface %s)", service, cfg.ep.Region, cfg.ep.Availability)
		sc, err := call(ctx, c, op, idempotent, func(context.Context) (*gophercloud.ServiceClient, error) {
			return newClient(provider, cfg.ep)
		})
		if err != nil {
			return nil, fmt.Errorf("connect to OpenStack (%s): %w", cfg.source, err)
		}
		return sc, nil
	}
	if c.compute, err = endpoint("compute", gos.NewComputeV2); err != nil {
		return nil, err
	}
	c.compute.Microversion = cmp.Or(opts.ComputeMicroversion, DefaultComputeMicroversion)
	if c.image, err = endpoint("image", gos.NewImageV2); err != nil {
		return nil, err
	}
	if c.network, err = endpoint("network", gos.NewNetworkV2); err != nil {
		return nil, err
	}
	log.DebugContext(ctx, "connected to OpenStack", "cloud", cfg.source,
		"auth_url", redactURL(cfg.auth.IdentityEndpoint), "as", principal(cfg.auth),
		"region", cfg.ep.Region, "compute", c.compute.Endpoint, "compute_microversion", c.compute.Microversion,
		"image", c.image.Endpoint, "network", c.network.Endpoint)
	return c, nil
}

// principal names who authenticates, without secrets.
func principal(ao gophercloud.AuthOptions) string {
	switch {
	case ao.ApplicationCredentialID != "":
		return "application credential " + ao.ApplicationCredentialID
	case ao.ApplicationCredentialName != "":
		return "application credential " + ao.ApplicationCredentialName + " of " + coalesce(ao.Username, ao.UserID)
	default:
		return "user " + coalesce(ao.Username, ao.UserID)
	}
}

// loadCloudConfig reads clouds.yaml (opts.Cloud or $OS_CLOUD) or else the OS_*
// variables.
func loadCloudConfig(opts ConnectOptions, getenv func(string) string) (cloudConfig, error) {
	name := coalesce(opts.Cloud, getenv("OS_CLOUD"))
	if name == "" {
		if opts.CloudsFile != "" {
			return cloudConfig{}, fmt.Errorf("clouds file %s given but no cloud name: set the cloud or OS_CLOUD", opts.CloudsFile)
		}
		return authFromEnv(getenv)
	}
	parseOpts := []clouds.ParseOption{clouds.WithCloudName(name)}
	if opts.CloudsFile != "" {
		parseOpts = append(parseOpts, clouds.WithLocations(opts.CloudsFile))
	}
	ao, eo, tlsConfig, err := clouds.Parse(parseOpts...)
	if err != nil {
		return cloudConfig{}, fmt.Errorf("read cloud %q from clouds.yaml: %w", name, err)
	}
	if ao.IdentityEndpoint == "" {
		return cloudConfig{}, fmt.Errorf("cloud %q in clouds.yaml has no auth.auth_url", name)
	}
	return cloudConfig{source: fmt.Sprintf("clouds.yaml entry %q", name), auth: ao, ep: eo, tls: tlsConfig}, nil
}

// authFromEnv reads the OS_* variables of an openrc file. gophercloud's
// AuthOptionsFromEnv ignores the user and project domains, the region, the interface
// and the CA certificate, and folds both domains into one; this reads them all.
func authFromEnv(getenv func(string) string) (cloudConfig, error) {
	authURL := getenv("OS_AUTH_URL")
	if authURL == "" {
		return cloudConfig{}, errors.New("no cloud configured: set OS_CLOUD (with a clouds.yaml) or OS_AUTH_URL and the other OS_* variables")
	}
	ao := gophercloud.AuthOptions{
		IdentityEndpoint:            authURL,
		Username:                    getenv("OS_USERNAME"),
		UserID:                      coalesce(getenv("OS_USER_ID"), getenv("OS_USERID")),
		Password:                    getenv("OS_PASSWORD"),
		ApplicationCredentialID:     getenv("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialName:   getenv("OS_APPLICATION_CREDENTIAL_NAME"),
		ApplicationCredentialSecret: getenv("OS_APPLICATION_CREDENTIAL_SECRET"),
	}
	userDomainID := coalesce(getenv("OS_USER_DOMAIN_ID"), getenv("OS_DOMAIN_ID"))
	userDomainName := coalesce(getenv("OS_USER_DOMAIN_NAME"), getenv("OS_DOMAIN_NAME"))
	if userDomainID == "" && userDomainName == "" {
		userDomainID = getenv("OS_DEFAULT_DOMAIN")
	}
	ao.DomainID, ao.DomainName = userDomainID, userDomainName
	if ao.DomainID != "" {
		ao.DomainName = "" // Keystone takes one of them; the id is exact
	}

	appCred := ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != ""
	switch {
	case appCred:
		if ao.ApplicationCredentialSecret == "" {
			return cloudConfig{}, errors.New("OS_APPLICATION_CREDENTIAL_SECRET is not set")
		}
		if ao.ApplicationCredentialID == "" && ao.Username == "" && ao.UserID == "" {
			return cloudConfig{}, errors.New("an application credential given by name needs OS_USERNAME or OS_USER_ID")
		}
		ao.Password = "" // the credential is the secret; never send both
	default:
		if ao.Username == "" && ao.UserID == "" {
			return cloudConfig{}, errors.New("OS_USERNAME (or OS_USER_ID) is not set")
		}
		if ao.Password == "" {
			return cloudConfig{}, errors.New("OS_PASSWORD is not set")
		}
		if ao.UserID == "" && ao.DomainID == "" && ao.DomainName == "" {
			return cloudConfig{}, errors.New("OS_USER_DOMAIN_NAME (or OS_USER_DOMAIN_ID) is not set")
		}
		projectID := coalesce(getenv("OS_PROJECT_ID"), getenv("OS_TENANT_ID"))
		projectName := coalesce(getenv("OS_PROJECT_NAME"), getenv("OS_TENANT_NAME"))
		switch {
		case projectID != "":
			ao.Scope = &gophercloud.AuthScope{ProjectID: projectID}
		case projectName != "":
			scope := &gophercloud.AuthScope{
				ProjectName: projectName,
				DomainID:    coalesce(getenv("OS_PROJECT_DOMAIN_ID"), getenv("OS_DOMAIN_ID")),
				DomainName:  coalesce(getenv("OS_PROJECT_DOMAIN_NAME"), getenv("OS_DOMAIN_NAME")),
			}
			if scope.DomainID == "" && scope.DomainName == "" {
				scope.DomainID, scope.DomainName = ao.DomainID, ao.DomainName
			}
			if scope.DomainID != "" {
				scope.DomainName = ""
			}
			if scope.DomainID == "" && scope.DomainName == "" {
				return cloudConfig{}, errors.New("OS_PROJECT_NAME needs OS_PROJECT_DOMAIN_NAME (or OS_PROJECT_DOMAIN_ID)")
			}
			ao.Scope = scope
		default:
			return cloudConfig{}, errors.New("OS_PROJECT_NAME (or OS_PROJECT_ID) is not set")
		}
	}

	iface := coalesce(getenv("OS_INTERFACE"), getenv("OS_ENDPOINT_TYPE"), "public")
	avail, err := availability(iface)
	if err != nil {
		return cloudConfig{}, fmt.Errorf("OS_INTERFACE: %w", err)
	}
	insecure := false
	if v := getenv("OS_INSECURE"); v != "" {
		if insecure, err = strconv.ParseBool(v); err != nil {
			return cloudConfig{}, fmt.Errorf("OS_INSECURE=%q: want true or false", v)
		}
	}
	tlsConfig, err := tlsConfigFor(getenv("OS_CACERT"), getenv("OS_CERT"), getenv("OS_KEY"), insecure)
	if err != nil {
		return cloudConfig{}, err
	}
	return cloudConfig{
		source: "OS_* environment",
		auth:   ao,
		ep:     gophercloud.EndpointOpts{Region: getenv("OS_REGION_NAME"), Availability: avail},
		tls:    tlsConfig,
	}, nil
}

func availability(iface string) (gophercloud.Availability, error) {
	switch strings.TrimSuffix(strings.ToLower(iface), "url") {
	case "public":
		return gophercloud.AvailabilityPublic, nil
	case "internal":
		return gophercloud.AvailabilityInternal, nil
	case "admin":
		return gophercloud.AvailabilityAdmin, nil
	}
	return "", fmt.Errorf("interface %q: want public, internal or admin", iface)
}

// tlsConfigFor builds the TLS settings of the OS_CACERT, OS_CERT/OS_KEY and
// OS_INSECURE variables.
func tlsConfigFor(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // only when the user sets OS_INSECURE
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("OS_CACERT: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("OS_CACERT: no PEM certificate in %s", caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("OS_CERT/OS_KEY: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, errors.New("OS_CERT and OS_KEY must be set together")
	}
	return cfg, nil
}

func coalesce(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// ProjectID is the id of the Keystone project the client's token is scoped to.
func (c *Client) ProjectID() (string, error) {
	res, ok := c.provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return "", fmt.Errorf("read the project of the token: not a Keystone v3 token (%T)", c.provider.GetAuthResult())
	}
	p, err := res.ExtractProject()
	if err != nil {
		return "", fmt.Errorf("read the project of the token: %w", err)
	}
	if p == nil || p.ID == "" {
		return "", errors.New("read the project of the token: the token is not scoped to a project")
	}
	return p.ID, nil
}
