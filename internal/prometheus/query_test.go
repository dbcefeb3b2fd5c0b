package prometheus

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/prometheus/promtest"
)

func TestQueryVectorScalarAndErrors(t *testing.T) {
	t.Parallel()
	prom := promtest.Start(t, 0.5)
	c := Client{BaseURL: prom.URL}
	ctx := context.Background()
	got, err := c.Query(ctx, `sum(rate(http_requests_total{code=~"5.."}[1m]))`, time.Time{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, 0.5, got[0].Value)
	assert.Equal(t, `{job="web"}`, got[0].String())
	assert.WithinDuration(t, time.Now(), got[0].Time, 5*time.Second)
	assert.Equal(t, []string{`sum(rate(http_requests_total{code=~"5.."}[1m]))`}, prom.Queries(), "the query arrives as sent")

	prom.SetSeries()
	got, err = c.Query(ctx, "up", time.Time{})
	require.NoError(t, err)
	assert.Empty(t, got)

	prom.Fail("bad_data")
	_, err = c.Query(ctx, "up{", time.Time{})
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "bad_data", perr.ErrorType)
	assert.Equal(t, http.StatusBadRequest, perr.Status)

	_, err = Client{BaseURL: "ftp://x"}.Query(ctx, "up", time.Time{})
	require.ErrorContains(t, err, "want http(s)")
}

// The scalar form and special values, as Prometheus writes them.
func TestQueryScalarAndSpecialValues(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("query") {
		case "scalar":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"+Inf"]}}`))
		case "nan":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"NaN"]}]}}`))
		case "matrix":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`<html>bad gateway</html>`))
		}
	}))
	t.Cleanup(srv.Close)
	c := Client{BaseURL: srv.URL}
	ctx := context.Background()
	got, err := c.Query(ctx, "scalar", time.Time{})
	require.NoError(t, err)
	assert.True(t, math.IsInf(got[0].Value, 1))
	assert.Equal(t, time.Unix(1700000000, 500_000_000).UTC(), got[0].Time)
	got, err = c.Query(ctx, "nan", time.Time{})
	require.NoError(t, err)
	assert.True(t, math.IsNaN(got[0].Value))
	_, err = c.Query(ctx, "matrix", time.Time{})
	require.ErrorContains(t, err, "want an instant vector or a scalar")
	_, err = c.Query(ctx, "proxy", time.Time{})
	require.ErrorContains(t, err, "HTTP 502, not a Prometheus answer")
}

func TestGate(t *testing.T) {
	t.Parallel()
	prom := promtest.Start(t, 0)
	g := Gate{Client: Client{BaseURL: prom.URL}, Query: "errors", Max: 1}
	ctx := context.Background()
	require.NoError(t, g.Check(ctx))
	prom.Set(1)
	require.NoError(t, g.Check(ctx), "at max passes")
	prom.SetSeries(promtest.Series{Metric: map[string]string{"code": "200"}, Value: 0}, promtest.Series{Metric: map[string]string{"code": "503"}, Value: 4})
	err := g.Check(ctx)
	require.ErrorIs(t, err, ErrAlarm)
	require.ErrorContains(t, err, `errors {code="503"} = 4 > max 1`)
	prom.SetSeries()
	require.NoError(t, g.Check(ctx), "no series: nothing to alarm on")
	prom.Set(math.NaN())
	require.NoError(t, g.Check(ctx), "NaN (no traffic) passes")
	prom.Fail("timeout")
	require.ErrorContains(t, g.Check(ctx), "timeout")
}
