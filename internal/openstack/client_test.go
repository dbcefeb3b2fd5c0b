package openstack

import (
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestAuthFromEnv(t *testing.T) {
	t.Parallel()
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"OS_AUTH_URL": "https://keystone.example/v3", "OS_USERNAME": "alice", "OS_PASSWORD": "pw",
			"OS_PROJECT_NAME": "proj", "OS_USER_DOMAIN_NAME": "Users", "OS_PROJECT_DOMAIN_NAME": "Projects"}
		for k, v := range extra {
			if v == "-" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantAuth  gophercloud.AuthOptions
		wantEP    gophercloud.EndpointOpts
		wantErr   string
		wantNoTLS bool
	}{
		{
			name: "password with separate user and project domains, region and interface",
			env:  base(map[string]string{"OS_REGION_NAME": "RegionTwo", "OS_INTERFACE": "internal"}),
			wantAuth: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.example/v3", Username: "alice", Password: "pw",
				DomainName: "Users", Scope: &gophercloud.AuthScope{ProjectName: "proj", DomainName: "Projects"}},
			wantEP: gophercloud.EndpointOpts{Region: "RegionTwo", Availability: gophercloud.AvailabilityInternal},
		},
		{
			name: "domain ids win over names; project domain falls back to the user domain",
			env: base(map[string]string{"OS_USER_DOMAIN_ID": "default", "OS_USER_DOMAIN_NAME": "-", "OS_PROJECT_DOMAIN_NAME": "-",
				"OS_INTERFACE": "publicURL"}),
			wantAuth: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.example/v3", Username: "alice", Password: "pw",
				DomainID: "default", Scope: &gophercloud.AuthScope{ProjectName: "proj", DomainID: "default"}},
			wantEP: gophercloud.EndpointOpts{Availability: gophercloud.AvailabilityPublic},
		},
		{
			name: "project id needs no domain",
			env:  base(map[string]string{"OS_PROJECT_ID": "p-123", "OS_PROJECT_NAME": "-", "OS_PROJECT_DOMAIN_NAME": "-"}),
			wantAuth: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.example/v3", Username: "alice", Password: "pw",
				DomainName: "Users", Scope: &gophercloud.AuthScope{ProjectID: "p-123"}},
			wantEP: gophercloud.EndpointOpts{Availability: gophercloud.AvailabilityPublic},
		},
		{
			name: "application credential by id: no password, no scope",
			env: map[string]string{"OS_AUTH_URL": "https://keystone.example/v3", "OS_APPLICATION_CREDENTIAL_ID": "ac1",
				"OS_APPLICATION_CREDENTIAL_SECRET": "acs", "OS_PASSWORD": "stale", "OS_PROJECT_NAME": "ignored", "OS_REGION_NAME": "R"},
			wantAuth: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.example/v3",
				ApplicationCredentialID: "ac1", ApplicationCredentialSecret: "acs"},
			wantEP: gophercloud.EndpointOpts{Region: "R", Availability: gophercloud.AvailabilityPublic},
		},
		{
			name: "application credential by name with user",
			env: map[string]string{"OS_AUTH_URL": "https://k/v3", "OS_APPLICATION_CREDENTIAL_NAME": "remint",
				"OS_APPLICATION_CREDENTIAL_SECRET": "acs", "OS_USERNAME": "alice", "OS_USER_DOMAIN_NAME": "Default"},
			wantAuth: gophercloud.AuthOptions{IdentityEndpoint: "https://k/v3", Username: "alice", DomainName: "Default",
				ApplicationCredentialName: "remint", ApplicationCredentialSecret: "acs"},
			wantEP: gophercloud.EndpointOpts{Availability: gophercloud.AvailabilityPublic},
		},
		{name: "nothing", env: map[string]string{}, wantErr: "set OS_CLOUD"},
		{name: "no password", env: base(map[string]string{"OS_PASSWORD": "-"}), wantErr: "OS_PASSWORD is not set"},
		{name: "no user domain", env: base(map[string]string{"OS_USER_DOMAIN_NAME": "-"}), wantErr: "OS_USER_DOMAIN_NAME"},
		{name: "no project", env: base(map[string]string{"OS_PROJECT_NAME": "-"}), wantErr: "OS_PROJECT_NAME (or OS_PROJECT_ID) is not set"},
		{name: "app cred without secret", env: map[string]string{"OS_AUTH_URL": "https://k/v3", "OS_APPLICATION_CREDENTIAL_ID": "ac1"},
			wantErr: "OS_APPLICATION_CREDENTIAL_SECRET is not set"},
		{name: "bad interface", env: base(map[string]string{"OS_INTERFACE": "sideways"}), wantErr: `interface "sideways"`},
		{name: "bad insecure", env: base(map[string]string{"OS_INSECURE": "maybe"}), wantErr: "OS_INSECURE"},
		{name: "missing CA file", env: base(map[string]string{"OS_CACERT": "/nonexistent/ca.pem"}), wantErr: "OS_CACERT"},
		{name: "cert without key", env: base(map[string]string{"OS_CERT": "/x.pem"}), wantErr: "OS_CERT and OS_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := authFromEnv(envOf(tt.env))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				for k, v := range tt.env {
					if k == "OS_PASSWORD" || k == "OS_APPLICATION_CREDENTIAL_SECRET" {
						assert.NotContains(t, err.Error(), v, "secrets never appear in errors")
					}
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantAuth, cfg.auth)
			assert.Equal(t, tt.wantEP, cfg.ep)
			require.NotNil(t, cfg.tls)
			assert.False(t, cfg.tls.InsecureSkipVerify)
		})
	}
}

func TestLoadCloudConfigPrefersCloudsYAML(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	path := fc.cloudsYAML(t)
	env := envOf(map[string]string{"OS_CLOUD": "fake", "OS_AUTH_URL": "https://ignored/v3"})
	cfg, err := loadCloudConfig(ConnectOptions{CloudsFile: path}, env)
	require.NoError(t, err)
	assert.Equal(t, fc.srv.URL+"/identity/v3", cfg.auth.IdentityEndpoint)
	assert.Equal(t, "RegionOne", cfg.ep.Region)
	assert.Equal(t, `clouds.yaml entry "fake"`, cfg.source)

	_, err = loadCloudConfig(ConnectOptions{CloudsFile: path}, envOf(nil))
	require.ErrorContains(t, err, "no cloud name")
}

// Not parallel: it sets process environment variables.
func TestConnectFromEnvironment(t *testing.T) {
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", okServer("s1"))
	for _, k := range []string{"OS_CLOUD", "OS_CLIENT_CONFIG_FILE", "OS_REGION_NAME", "OS_INTERFACE", "OS_CACERT", "OS_PASSWORD",
		"OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_USERNAME"} {
		t.Setenv(k, "")
	}
	t.Setenv("OS_AUTH_URL", fc.srv.URL+"/identity/v3")
	t.Setenv("OS_APPLICATION_CREDENTIAL_ID", "appcred-id")
	t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", "appcred-secret")
	t.Setenv("OS_REGION_NAME", "RegionOne")
	c, err := Connect(testCtx(t), ConnectOptions{Retry: fastPolicy})
	require.NoError(t, err)
	s, err := c.GetServer(testCtx(t), "s1")
	require.NoError(t, err)
	assert.Equal(t, "s1", s.ID)

	t.Setenv("OS_REGION_NAME", "Elsewhere")
	_, err = Connect(testCtx(t), ConnectOptions{Retry: fastPolicy})
	require.ErrorContains(t, err, `find the compute endpoint (region "Elsewhere"`)
}
