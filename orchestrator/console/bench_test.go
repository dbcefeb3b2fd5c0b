package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/orchestrator"
)

// BenchmarkConsoleUpdatesPage measures the Updates page of a group with 20 updates in
// its History and a schedule: its weight (bytes of HTML, CSS and JavaScript a first
// visit downloads) and, in headless Chromium, the time to first contentful paint and to
// DOMContentLoaded of a fresh load (mean over b.N loads; -benchtime 5x for more).
// Chromium is required (Debian's chromium, scripts/deps.sh e2e): without it the
// benchmark fails, it does not skip.
func BenchmarkConsoleUpdatesPage(b *testing.B) {
	const chromium = "/usr/bin/chromium"
	if _, err := exec.LookPath(chromium); err != nil {
		b.Fatalf("%s is missing: install Debian's chromium (apt-get install chromium, or scripts/deps.sh e2e as root)", chromium)
	}
	e := newEnv(b, false, nil)
	ctx := context.Background()
	for i := range 20 {
		j, err := e.queue.Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindUpdate, Target: "web", RequestedBy: "bench"}, nil)
		require.NoError(b, err)
		require.Eventually(b, func() bool {
			j, err = e.queue.Get(ctx, j.ID)
			return err == nil && j.Status == orchestrator.StatusSucceeded
		}, time.Minute, 10*time.Millisecond, "job %d", i)
	}
	_, err := e.book.Create(ctx, orchestrator.ScheduleSpec{Name: "sat", RRule: "DTSTART;TZID=Europe/Berlin:20260103T030000 RRULE:FREQ=WEEKLY;BYDAY=SA",
		Window: 4 * time.Hour, Enabled: true, Action: "update", Target: "web"}, "bench")
	require.NoError(b, err)

	// Weight: what a first visit fetches (the page, its stylesheet and its script).
	c := e.login("secret-alice")
	weight := 0
	for _, p := range []string{"/updates/web", "/static/console.css", "/static/console.js"} {
		resp, err := c.Get(e.srv.URL + p)
		require.NoError(b, err)
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode, p)
		weight += int(n)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	_, err = chromedp.Run(bctx, chromedp.Navigate(e.srv.URL+"/login?next=/updates/web"))
	require.NoError(b, err)
	lctx, done := context.WithTimeout(bctx, time.Minute)
	defer done()
	require.NoError(b, chromedp.Do(lctx, chromedp.SendKeys(chromedp.CSS("#token"), "secret-alice"), chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#history-table"))))

	var fcp, dcl float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A fresh load each time: a new query string, so nothing is reused from the last one.
		u := e.srv.URL + "/updates/web?" + url.Values{"n": {fmt.Sprint(i)}}.Encode()
		nctx, done := context.WithTimeout(bctx, time.Minute)
		require.NoError(b, chromedp.Do(nctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("#history-table"))))
		done()
		var t []float64
		require.Eventually(b, func() bool {
			wctx, done := context.WithTimeout(bctx, 10*time.Second)
			defer done()
			t, err = chromedp.Run(wctx, chromedp.Evaluate[[]float64](`(function(){var p=performance.getEntriesByName("first-contentful-paint")[0];`+
				`var n=performance.getEntriesByType("navigation")[0];return p&&n&&n.domContentLoadedEventEnd>0?[p.startTime,n.domContentLoadedEventEnd]:[]})()`))
			return err == nil && len(t) == 2
		}, time.Minute, 50*time.Millisecond, "paint timings of load %d (last error %v)", i, err)
		fcp += t[0]
		dcl += t[1]
	}
	b.StopTimer()
	b.ReportMetric(float64(weight), "bytes-html+css+js")
	b.ReportMetric(fcp/float64(b.N), "ms-first-contentful-paint")
	b.ReportMetric(dcl/float64(b.N), "ms-dom-content-loaded")
}
