package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
)

func TestEventPrinterFormats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	events := []failover.Event{
		{Time: at, Rollout: "r1", Group: "web", Slot: -1, Step: "planned", Message: "rollout r1: 1 slots"},
		{Time: at, Rollout: "r1", Group: "web", Slot: 0, Server: "0123456789abcdef", Step: "creating", Message: "create web-0-r1"},
	}
	res := failover.Result{Rollout: "r1", Group: "web", Status: "failed", Target: failover.Target{Version: "2026.11.1"},
		Slots: []failover.SlotResult{{Slot: 0, State: "failed", OldServerID: "aaaaaaaaaaaa", OldImageVersion: "2026.10.1", Error: "boom"}}}

	var text bytes.Buffer
	p := newEventPrinter(&text, "text")
	require.False(t, p.live, "a buffer is not a terminal")
	for _, e := range events {
		p.Event(e)
	}
	p.summary(res, errors.New("boom"))
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	require.Len(t, lines, 4)
	require.Contains(t, lines[1], "web-0")
	require.Contains(t, lines[1], "(server 01234567)")
	require.Contains(t, lines[2], "rollout r1 of group web to 2026.11.1: failed")
	require.Contains(t, lines[3], "slot web-0: failed, old aaaaaaaa (2026.10.1): boom")

	var js bytes.Buffer
	p = newEventPrinter(&js, "json")
	for _, e := range events {
		p.Event(e)
	}
	p.summary(res, nil)
	lines = strings.Split(strings.TrimSpace(js.String()), "\n")
	require.Len(t, lines, 3)
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &ev))
	require.Equal(t, "event", ev["type"])
	require.Equal(t, "creating", ev["step"])
	require.EqualValues(t, 0, ev["slot"])
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &ev))
	require.Equal(t, "summary", ev["type"])
	require.Equal(t, "failed", ev["status"])

	var live bytes.Buffer
	p = newEventPrinter(&live, "text")
	p.live = true
	for _, e := range events {
		p.Event(e)
	}
	p.Event(failover.Event{Time: at, Group: "web", Slot: 0, Step: "booting", Message: "created"})
	require.Contains(t, live.String(), "\x1b[2A", "the live block (one line per slot + status) is redrawn in place")
	require.Equal(t, 2, p.drawn)
}
