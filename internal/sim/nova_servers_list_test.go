package sim

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// changes-since as Nova has it: servers updated at or after the time, recently deleted
// ones included with status DELETED, ISO 8601 with or without seconds and zone (UTC
// assumed); without the filter deleted servers stay invisible.
func TestNovaServerListChangesSince(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	c := ntNewClient(t, s, "2.79")
	old := c.createServer("cs-old", seed.ImageID, map[string]any{"networks": "none"})
	gone := c.createServer("cs-gone", seed.ImageID, map[string]any{"networks": "none"})
	c.waitStatus(old, "ACTIVE")
	c.waitStatus(gone, "ACTIVE")
	time.Sleep(1100 * time.Millisecond) // Nova's timestamps have whole seconds
	since := time.Now().UTC()
	fresh := c.createServer("cs-fresh", seed.ImageID, map[string]any{"networks": "none"})
	resp, _ := c.do(http.MethodDelete, "/compute/v2.1/servers/"+gone, nil, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	c.waitGone(gone)
	c.waitStatus(fresh, "ACTIVE")

	list := func(query string) map[string]string {
		resp, body := c.do(http.MethodGet, "/compute/v2.1/servers/detail?"+query, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, query)
		out := map[string]string{}
		for _, srv := range body["servers"].([]any) {
			m := srv.(map[string]any)
			out[m["name"].(string)] = m["status"].(string)
		}
		return out
	}
	q := url.Values{"name": {"^cs-"}}
	assert.Equal(t, map[string]string{"cs-old": "ACTIVE", "cs-fresh": "ACTIVE"}, list(q.Encode()), "no filter: deleted servers are not listed")

	for _, form := range []string{
		since.Format(time.RFC3339Nano),
		since.Format("2006-01-02T15:04:05.000000"),                   // no zone: UTC
		since.In(time.FixedZone("x", 3600)).Format(time.RFC3339Nano), // another zone, same instant
	} {
		q.Set("changes-since", form)
		assert.Equal(t, map[string]string{"cs-fresh": "ACTIVE", "cs-gone": "DELETED"}, list(q.Encode()), form)
	}
	// Minutes only (the API guide's own example form) reaches back to the minute.
	q.Set("changes-since", since.Add(-time.Hour).Format("2006-01-02T15:04Z"))
	assert.Len(t, list(q.Encode()), 3)
	q.Set("changes-since", since.Add(time.Hour).Format(time.RFC3339))
	assert.Empty(t, list(q.Encode()), "nothing changed after a time to come")

	// A deleted server stays a 404 on GET.
	code, _ := c.server(gone)
	assert.Equal(t, http.StatusNotFound, code)

	q.Set("changes-since", "yesterday")
	resp, _ = c.do(http.MethodGet, "/compute/v2.1/servers/detail?"+q.Encode(), nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
