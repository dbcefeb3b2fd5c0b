package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/loadgen"
	"github.com/remint-dev/remint/internal/sim/workload"
)

func TestLoadgenCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(workload.Handler(workload.Info{ServerID: "srv-a", ServerName: "web-0", ImageName: "debian-12-2026.11.1", ImageVersion: "2026.11.1"}, workload.Options{}))
	t.Cleanup(srv.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	t.Cleanup(bad.Close)
	opts := loadgenOptions{duration: 200 * time.Millisecond, concurrency: 2, interval: time.Millisecond,
		reconnectAfter: time.Second, timeout: time.Second, output: "text"}

	t.Run("text", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		require.NoError(t, runLoadgen(context.Background(), &out, []string{srv.URL + "/"}, opts))
		assert.Contains(t, out.String(), "0 failed; stopped by duration")
		assert.Contains(t, out.String(), "  web-0 ")
		assert.Regexp(t, `version 2026\.11\.1 +×\d+ .*  image debian-12-2026\.11\.1\n`, out.String())
	})
	t.Run("json and failures", func(t *testing.T) {
		t.Parallel()
		o := opts
		o.output = "json"
		var out bytes.Buffer
		err := runLoadgen(context.Background(), &out, []string{srv.URL + "/", bad.URL + "/"}, o)
		require.Error(t, err)
		var ue usageError
		assert.False(t, errors.As(err, &ue), "failed requests are a failure, not bad input")
		var rep loadgen.Report
		require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
		require.Len(t, rep.URLs, 2)
		assert.Zero(t, rep.URLs[0].Failed)
		assert.Equal(t, rep.URLs[1].Total, rep.URLs[1].Failed)
		assert.Positive(t, rep.Failed)
	})
	for name, tc := range map[string]struct {
		args []string
		mod  func(*loadgenOptions)
	}{
		"not a URL":        {args: []string{"172.24.4.10:8080"}},
		"ftp":              {args: []string{"ftp://host/"}},
		"duplicate":        {args: []string{srv.URL, srv.URL}},
		"zero duration":    {args: []string{srv.URL}, mod: func(o *loadgenOptions) { o.duration = 0 }},
		"too long":         {args: []string{srv.URL}, mod: func(o *loadgenOptions) { o.duration = time.Hour }},
		"no workers":       {args: []string{srv.URL}, mod: func(o *loadgenOptions) { o.concurrency = 0 }},
		"too many workers": {args: []string{srv.URL}, mod: func(o *loadgenOptions) { o.concurrency = 1000 }},
		"bad output":       {args: []string{srv.URL}, mod: func(o *loadgenOptions) { o.output = "yaml" }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := opts
			if tc.mod != nil {
				tc.mod(&o)
			}
			var out bytes.Buffer
			err := runLoadgen(context.Background(), &out, tc.args, o)
			var ue usageError
			require.ErrorAs(t, err, &ue)
			assert.Empty(t, out.String(), "nothing is sent on bad input")
		})
	}
}
