package simtest_test

import (
	"net/http"
	"testing"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simtest"
)

func TestStartSeededServesAnAuthenticatedAPI(t *testing.T) {
	t.Parallel()
	s, seed := simtest.StartSeeded(t, sim.Config{})
	if seed.ImageID == "" || seed.PrivateNetworkID == "" || len(seed.KeypairPrivateKey) == 0 {
		t.Fatalf("seed result incomplete: %+v", seed)
	}
	tok := simtest.Token(t, s)
	for _, tc := range []struct {
		token string
		want  int
	}{{tok, http.StatusOK}, {"", http.StatusUnauthorized}} {
		req, err := http.NewRequest(http.MethodGet, s.CatalogEndpoints()["compute"]+"/flavors", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("X-Auth-Token", tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET flavors with token %t: status %d, want %d", tc.token != "", resp.StatusCode, tc.want)
		}
	}
}
