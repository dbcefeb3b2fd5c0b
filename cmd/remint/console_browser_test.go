package main

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/orchestrator"
)

// chromiumPath is Debian's chromium, which the browser tests drive headless.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for a browser test (make e2e: REMINT_E2E=1). Without
// REMINT_E2E the test is skipped (make test has no browser); with it, a missing
// Chromium fails the test with what to install.
func browser(t testing.TB) context.Context {
	t.Helper()
	if os.Getenv("REMINT_E2E") != "1" {
		t.Skip("browser test: runs in make e2e (REMINT_E2E=1) with Debian's chromium")
	}
	if _, err := osexec.LookPath(chromiumPath); err != nil {
		t.Fatalf("browser test: %s is missing: install Debian's chromium (apt-get install chromium, or run scripts/deps.sh e2e as root)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a timeout (see chromedp.Run).
	_, err := chromedp.Run(ctx, chromedp.Navigate("about:blank"))
	require.NoError(t, err, "start %s", chromiumPath)
	return ctx
}

// screenshots is where make e2e keeps the console's screenshots ($REMINT_SCREENSHOTS).
func screenshots(t *testing.T) string {
	dir := os.Getenv("REMINT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// step runs one action with a generous deadline, failing the test with what it waited for.
func step[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	v, err := chromedp.Run(c, a)
	require.NoError(t, err, "browser: %s", what)
	return v
}

// registerBuilt snapshots the builder as an image recorded as built with pkgs, passes
// its verification and promotes it: debian-12's next active version, which it returns.
func (w *world) registerBuilt(name string, pkgs []debian.Package) string {
	w.t.Helper()
	ctx := w.t.Context()
	id, err := w.os.CreateServerImage(ctx, w.builder, name, nil)
	require.NoError(w.t, err)
	_, err = w.os.WaitImageActive(ctx, id)
	require.NoError(w.t, err)
	now := time.Now()
	e, err := w.cat.AddCandidate(ctx, "debian-12", id, catalog.Build{ID: name, BuiltAt: now, Duration: time.Minute, Packages: pkgs}, now)
	require.NoError(w.t, err)
	_, err = w.cat.MarkVerification(ctx, id, true, "booted and answered its health check", now)
	require.NoError(w.t, err)
	_, _, err = w.cat.Promote(ctx, id, now)
	require.NoError(w.t, err)
	return e.Version.String()
}

// eventually evaluates cond (JavaScript, a boolean) until it is true, across page loads.
func eventually(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](cond))
		return err == nil && ok // an error: the page is loading; ask again
	}, 2*time.Minute, 250*time.Millisecond, "browser: %s", what)
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := step(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// The web console in a real browser against a real `remint serve` on the simulator: a
// wrong token is refused; the right one logs in and sees the group; an update with a
// 3-hour maintenance window is queued from the Updates page and watched until History
// shows it succeeded; a schedule is created with the picker, its next 5 runs previewed
// live, and listed with its next runs. Every page is screenshotted.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	dir := screenshots(t)
	remintBinary(t)
	w := startWorld(t, leaseManifest, 300*time.Millisecond)
	pkgs := []debian.Package{{Name: "openssl", Version: "3.0.14-1~deb12u1", Suite: "bookworm"}, {Name: "bash", Version: "5.2.15-2+b7", Suite: "bookworm"}}
	w.registerBuilt("debian-12-a", pkgs)
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	pkgs[0].Version, pkgs[0].Suite = "3.0.15-1~deb12u1", "bookworm-security"
	version := w.registerBuilt("debian-12-b", append(pkgs, debian.Package{Name: "curl", Version: "7.88.1-10+deb12u8", Suite: "bookworm"}))
	// The console logs in with API tokens (remint token create): a writer and a reader.
	makeToken := func(args ...string) string {
		p := w.start(nil, append([]string{"token", "create", "--output", "secret"}, args...)...)
		require.Equal(t, 0, p.wait(t), "%s", p)
		return strings.TrimSpace(p.stdout.String())
	}
	token, roToken := makeToken("--name", "console"), makeToken("--name", "console-ro", "--read-only")
	_, url := w.startServe(nil)

	// Not logged in: the login form; a wrong token is refused.
	step(t, ctx, "open the console", chromedp.Navigate(url+"/"))
	step(t, ctx, "login form", chromedp.WaitVisible(chromedp.CSS("#token")))
	shot(t, ctx, dir, "login")
	step(t, ctx, "type a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"))
	step(t, ctx, "submit", chromedp.Click(chromedp.CSS("#login")))
	step(t, ctx, "the refusal", chromedp.WaitVisible(chromedp.CSS("#login-error")))
	require.Contains(t, step(t, ctx, "read the refusal", chromedp.Text(chromedp.CSS("#login-error"))), "not valid")

	// The right token: the Groups page with web's slots.
	step(t, ctx, "type the token", chromedp.SendKeys(chromedp.CSS("#token"), token))
	step(t, ctx, "submit", chromedp.Click(chromedp.CSS("#login")))
	step(t, ctx, "the groups page", chromedp.WaitVisible(chromedp.CSS("#group-web")))
	groups := step(t, ctx, "read group web", chromedp.Text(chromedp.CSS("#group-web")))
	require.Contains(t, groups, "web-0")
	require.Contains(t, groups, "web-1")
	// One probe per server per page load: on a loaded machine one can time out, so load
	// the page again until both servers answered it.
	require.Eventually(t, func() bool {
		groups = step(t, ctx, "read group web", chromedp.Text(chromedp.CSS("#group-web")))
		if strings.Count(groups, "healthy") == 2 && !strings.Contains(groups, "unhealthy") {
			return true
		}
		step(t, ctx, "reload the groups page", chromedp.Navigate(url+"/groups"))
		step(t, ctx, "the groups page", chromedp.WaitVisible(chromedp.CSS("#group-web")))
		return false
	}, time.Minute, 100*time.Millisecond, "both servers healthy on the Groups page: %s", groups)
	shot(t, ctx, dir, "groups")

	step(t, ctx, "the rebuild plan", chromedp.Navigate(url+"/groups/web/rebuild"))
	plan := step(t, ctx, "read the plan", chromedp.Text(chromedp.CSS("#plan")))
	require.Contains(t, plan, version, "the plan names the new version")
	shot(t, ctx, dir, "rebuild-plan")

	// Confirming queues the rebuild and opens its job page, which follows the job live
	// (server-sent events) to its end without reloading.
	step(t, ctx, "confirm the rebuild", chromedp.Click(chromedp.CSS("#confirm")))
	step(t, ctx, "the job page", chromedp.WaitVisible(chromedp.CSS("#job-status")))
	first := step(t, ctx, "the job's status on arrival", chromedp.Text(chromedp.CSS("#job-status")))
	require.Contains(t, []string{"queued", "running"}, first, "the rebuild (two slots, one after the other) still runs when its page opens; the page:\n%s",
		step(t, ctx, "read the job page", chromedp.Text(chromedp.CSS("#job"))))
	step(t, ctx, "mark this page load", chromedp.Evaluate[chromedp.Void](`window.remintMark = true`))
	eventually(t, ctx, "the status turns succeeded on the same page", `window.remintMark === true && document.querySelector("#job-status").textContent !== "running" && document.querySelector("#job-status").textContent !== "queued"`)
	require.Equal(t, "succeeded", step(t, ctx, "the job's status at its end", chromedp.Text(chromedp.CSS("#job-status"))), "the page:\n%s",
		step(t, ctx, "read the job page", chromedp.Text(chromedp.CSS("#job"))))
	require.Contains(t, step(t, ctx, "read the live event log", chromedp.Text(chromedp.CSS("#events"))), "succeeded: 2 installed, 0 failed")
	shot(t, ctx, dir, "job")
	w.assertServing(version)

	step(t, ctx, "the images page", chromedp.Navigate(url+"/images"))
	images := step(t, ctx, "read the images", chromedp.Text(chromedp.CSS("#debian-12")))
	require.Contains(t, images, version)
	require.Contains(t, images, "active")
	require.Contains(t, images, "deprecated")
	require.Contains(t, images, "passed", "the verification result")
	require.Contains(t, images, "2 changed since", "the package diff to the previous version")
	step(t, ctx, "open the diff", chromedp.Click(chromedp.CSS("#debian-12 details > summary")))
	diff := step(t, ctx, "read the diff", chromedp.Text(chromedp.CSS("#debian-12 details")))
	require.Contains(t, diff, "openssl 3.0.14-1~deb12u1 → 3.0.15-1~deb12u1")
	require.Contains(t, diff, "security")
	require.Contains(t, diff, "added curl")
	shot(t, ctx, dir, "images")

	// A newer version, then Update with a 3-hour window; History shows it until it succeeded.
	pkgs = append(pkgs, debian.Package{Name: "curl", Version: "7.88.1-10+deb12u9", Suite: "bookworm-security"})
	version = w.registerBuilt("debian-12-c", pkgs)
	step(t, ctx, "the updates page", chromedp.Navigate(url+"/updates/web"))
	step(t, ctx, "the window field", chromedp.SetValue(chromedp.CSS("#window"), "3"))
	step(t, ctx, "click Update", chromedp.Click(chromedp.CSS("#update")))
	// The update's own row: until the form's answer has loaded, the page still shows the
	// rebuild above, which has already succeeded.
	step(t, ctx, "the update in History", chromedp.WaitVisible(chromedp.CSS(`#history-table tbody tr[data-kind="update"]`)))
	// The page reloads itself while the update runs, so ask again until it says how it ended.
	var status string
	require.Eventually(t, func() bool {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Evaluate[string](`(function(){var r=document.querySelector('#history-table tbody tr[data-kind="update"]');return r?r.dataset.status:""})()`))
		if err != nil {
			return false // navigating: ask again
		}
		status = s
		return s == "succeeded" || s == "failed" || s == "cancelled"
	}, 3*time.Minute, 500*time.Millisecond, "History shows the update finished (last seen %q)", status)
	step(t, ctx, "History loaded", chromedp.WaitVisible(chromedp.CSS(`#history-table tbody tr[data-kind="update"]`)))
	row := step(t, ctx, "read the History row", chromedp.Text(chromedp.CSS(`#history-table tbody tr[data-kind="update"]`)))
	require.Equal(t, "succeeded", status, "History row: %s", row)
	require.Contains(t, row, "token console", "the principal is recorded")
	jobs, err := w.client(url).List(t.Context(), orchestrator.ListOptions{Kinds: []string{orchestrator.KindUpdate}})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, "token console", jobs[0].RequestedBy)
	rebuilds, err := w.client(url).List(t.Context(), orchestrator.ListOptions{Kinds: []string{orchestrator.KindRebuild}})
	require.NoError(t, err)
	require.Len(t, rebuilds, 1)
	require.Equal(t, "token console", rebuilds[0].RequestedBy)
	require.NotNil(t, jobs[0].Run)
	require.Equal(t, 3*time.Hour, jobs[0].Run.End.Sub(jobs[0].Run.Start), "the window asked for")
	require.Equal(t, 2, jobs[0].Installed, "both slots rebuilt onto %s; the update job decided %q (reason %q)", version, jobs[0].Decisions, jobs[0].Reason)
	w.assertServing(version)

	// Create a schedule with the picker: Saturdays 02:30 in Berlin, previewed live.
	if !step(t, ctx, "is Create schedule open", chromedp.Evaluate[bool](`document.querySelector("#create-schedule").open`)) {
		step(t, ctx, "open Create schedule", chromedp.Click(chromedp.CSS("#create-schedule > summary")))
	}
	step(t, ctx, "name", chromedp.SendKeys(chromedp.CSS("#s-name"), "saturday-night"))
	step(t, ctx, "zone", chromedp.SetValue(chromedp.CSS("#s-zone"), "Europe/Berlin"))
	step(t, ctx, "time", chromedp.SetValue(chromedp.CSS("#s-time"), "02:30"))
	step(t, ctx, "repeat weekly (fires the picker)", chromedp.SetValue(chromedp.CSS("#s-repeat"), "weekly"))
	step(t, ctx, "dispatch change", chromedp.Evaluate[chromedp.Void](`document.querySelector("#s-repeat").dispatchEvent(new Event("change"))`))
	step(t, ctx, "the window", chromedp.SetValue(chromedp.CSS("#s-window"), "4"))
	step(t, ctx, "five runs previewed", chromedp.Poll[bool](`document.querySelector("#s-rrule").value.includes("Europe/Berlin") && document.querySelector("#preview").dataset.rule === document.querySelector("#s-rrule").value`,
		chromedp.WithPollingTimeout(time.Minute)))
	rule := step(t, ctx, "read the rule", chromedp.Value(chromedp.CSS("#s-rrule")))
	require.Contains(t, rule, "DTSTART;TZID=Europe/Berlin:")
	require.Contains(t, rule, "T023000 RRULE:FREQ=WEEKLY;BYDAY=SA")
	preview := step(t, ctx, "read the preview", chromedp.Text(chromedp.CSS("#preview")))
	require.Equal(t, 5, strings.Count(preview, "Sat "), "five Saturdays: %s", preview)
	require.Contains(t, preview, "02:30", preview)
	shot(t, ctx, dir, "schedule-create")
	step(t, ctx, "create it", chromedp.Click(chromedp.CSS("#s-submit")))
	eventually(t, ctx, "the schedule listed", `!!document.querySelector("#schedule-table") && document.querySelector("#schedule-table").innerText.includes("saturday-night")`)
	table := step(t, ctx, "read the schedules", chromedp.Text(chromedp.CSS("#schedule-table")))
	require.Contains(t, table, "saturday-night")
	require.Contains(t, table, "4 h")
	require.Regexp(t, `Sat \d{4}-\d\d-\d\d 02:30 CES?T`, table, "next runs listed in the rule's zone")
	shot(t, ctx, dir, "updates")
	// At phone width every page fits the screen: only tables scroll sideways.
	step(t, ctx, "phone width", chromedp.EmulateViewport(390, 844))
	for _, p := range []string{"/groups", "/images", "/jobs", "/groups/web/rebuild", "/updates/web"} {
		step(t, ctx, "open "+p+" at phone width", chromedp.Navigate(url+p))
		step(t, ctx, p+" loaded", chromedp.WaitVisible(chromedp.CSS("main h1")))
		wide := step(t, ctx, "what sticks out of "+p, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *")).filter(function(e){`+
			`var r=e.getBoundingClientRect();return r.right>document.documentElement.clientWidth+1 && !e.closest(".scroll")}).slice(0,8).map(function(e){return e.tagName+"."+e.className+"#"+e.id+" "+Math.round(e.getBoundingClientRect().right)})`))
		require.Empty(t, wide, "%s: nothing wider than a phone's screen, outside scrolling tables", p)
	}
	shot(t, ctx, dir, "updates-phone")
	step(t, ctx, "desktop width", chromedp.EmulateViewport(1280, 900))

	// Jobs: the list and the update's page with its event log.
	step(t, ctx, "the jobs page", chromedp.Navigate(url+"/jobs"))
	require.Contains(t, step(t, ctx, "read the jobs", chromedp.Text(chromedp.CSS("#jobs-table"))), "update")
	shot(t, ctx, dir, "jobs")
	step(t, ctx, "the job page", chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", url, jobs[0].ID)))
	require.Equal(t, "succeeded", step(t, ctx, "read its status", chromedp.Text(chromedp.CSS("#job-status"))))
	require.Contains(t, step(t, ctx, "read its events", chromedp.Text(chromedp.CSS("#events"))), "queued: update web, requested by token console")

	// A read-only token sees the pages but no write buttons.
	step(t, ctx, "log out", chromedp.Click(chromedp.CSS("form.who button")))
	step(t, ctx, "login form", chromedp.WaitVisible(chromedp.CSS("#token")))
	step(t, ctx, "type the read-only token", chromedp.SendKeys(chromedp.CSS("#token"), roToken))
	step(t, ctx, "submit", chromedp.Click(chromedp.CSS("#login")))
	step(t, ctx, "the groups page", chromedp.WaitVisible(chromedp.CSS("#group-web")))
	step(t, ctx, "the updates page", chromedp.Navigate(url+"/updates/web"))
	step(t, ctx, "History", chromedp.WaitVisible(chromedp.CSS("#history-table")))
	n := step(t, ctx, "count write controls", chromedp.Evaluate[int](`document.querySelectorAll("#update, #create-schedule, form[action$='/delete']").length`))
	require.Zero(t, n, "a read-only token gets no write buttons")
	t.Logf("console screenshots in %s", dir)
}
