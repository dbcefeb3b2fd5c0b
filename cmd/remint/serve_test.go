package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
	"github.com/remint-dev/remint/orchestrator"
)

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

// apiTokens are the worlds' admin tokens, made by `remint token create` once per world.
var apiTokens sync.Map // *world -> string

// token returns the world's admin API token, creating it on first use.
func (w *world) token() string {
	w.t.Helper()
	if tok, ok := apiTokens.Load(w); ok {
		return tok.(string)
	}
	p := w.start(nil, "token", "create", "--name", "admin", "--output", "secret")
	require.Equal(w.t, 0, p.wait(w.t), "%s", p)
	tok := strings.TrimSpace(p.stdout.String())
	require.True(w.t, strings.HasPrefix(tok, "remint_"), "a token: %s", p)
	apiTokens.Store(w, tok)
	w.t.Cleanup(func() { apiTokens.Delete(w) })
	return tok
}

// tokenEnv is the environment that gives `remint job … --server` the admin token.
func (w *world) tokenEnv() []string { return []string{"REMINT_TOKEN=" + w.token()} }

// client is the API client of the daemon at url, with the admin token.
func (w *world) client(url string) *orchestrator.Client {
	return &orchestrator.Client{Base: url, Token: w.token()}
}

// startServe starts `remint serve` on a free port and returns it with its URL once it
// answers /readyz. The world's admin token exists by then.
func (w *world) startServe(env []string) (*proc, string) {
	w.t.Helper()
	w.token()
	p := w.start(env, "serve", "--listen", "127.0.0.1:0")
	var url string
	require.Eventually(w.t, func() bool {
		m := listenLine.FindStringSubmatch(p.stdout.String())
		if m == nil {
			return false
		}
		url = m[1]
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 20*time.Millisecond, "serve becomes ready: %s", p)
	return p, url
}

// A rebuild job submitted to a `remint serve` process that is killed with SIGKILL in the
// middle of its rollout is finished by the next daemon, exactly once: the job's second
// attempt resumes the recorded rollout (no second rollout, no server replaced twice),
// the job ends succeeded with both servers counted, and every address serves the new
// image.
func TestServeKilledMidRolloutJobFinishedOnceByNextDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, time.Second)
	w.register("debian-12-a")
	env := []string{lease.EnvTTL + "=3s"}
	deploy := w.start(env, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")

	first, url := w.startServe(env)
	health, err := http.Get(url + "/healthz")
	require.NoError(t, err)
	health.Body.Close()
	require.Equal(t, http.StatusOK, health.StatusCode)

	submit := w.start(w.tokenEnv(), "job", "submit", "rebuild", "web", "--server", url, "--output", "json")
	require.Equal(t, 0, submit.wait(t), "%s", submit)
	var job orchestrator.Job
	require.NoError(t, json.Unmarshal([]byte(submit.stdout.String()), &job))
	require.Equal(t, "rebuild", job.Kind)

	client := w.client(url)
	ctx := context.Background()
	require.Eventually(t, func() bool {
		j, err := client.Get(ctx, job.ID)
		if err != nil {
			return false
		}
		for _, e := range j.Events {
			if strings.Contains(e.Message, " creating ") {
				return true
			}
		}
		return false
	}, time.Minute, 20*time.Millisecond, "the rollout starts: %s", first)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, first.wait(t))

	// While no daemon runs, the job is still there (running, its worker gone).
	show := w.start(nil, "job", "show", strconv.FormatInt(job.ID, 10))
	require.Equal(t, 0, show.wait(t), "%s", show)
	require.Contains(t, show.stdout.String(), "rebuild web — running (attempt 1)")

	second, url2 := w.startServe(env)
	client = w.client(url2)
	var done orchestrator.Job
	require.Eventually(t, func() bool {
		done, err = client.Get(ctx, job.ID)
		return err == nil && (done.Status == orchestrator.StatusSucceeded || done.Status == orchestrator.StatusFailed)
	}, 2*time.Minute, 100*time.Millisecond, "the next daemon finishes the job: %s", second)
	require.Equal(t, orchestrator.StatusSucceeded, done.Status, "reason %q; %s", done.Reason, second)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, 2, done.Installed, "both slots replaced, counted once")
	require.Equal(t, 0, done.Failed)
	require.Len(t, done.Rollouts, 1, "one rollout, resumed, not a second one")
	var rescued, resumed bool
	for _, e := range done.Events {
		rescued = rescued || strings.Contains(e.Message, "rescued: attempt 1 stopped renewing its lease")
		resumed = resumed || strings.Contains(e.Message, "resuming rollout")
	}
	require.True(t, rescued, "events say why the job ran again: %+v", done.Events)
	require.True(t, resumed, "events show the rollout resumed: %+v", done.Events)

	// SIGTERM stops the daemon cleanly.
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, second.wait(t), "%s", second)
	require.Contains(t, second.stderr.String(), `"msg":"stopped"`, "logs are JSON when stderr is not a terminal")

	st, err := store.Open(ctx, w.statePath())
	require.NoError(t, err)
	rollouts, err := st.Rollouts(ctx, "web")
	require.NoError(t, err)
	st.Close()
	require.Len(t, rollouts, 2, "the first deploy and the job's one rollout")
	require.Equal(t, done.Rollouts[0], rollouts[0].ID)
	w.assertServing(version)
	w.assertNoStrays()

	list := w.start(nil, "job", "list", "--output", "json")
	require.Equal(t, 0, list.wait(t), "%s", list)
	var out struct{ Jobs []orchestrator.Job }
	require.NoError(t, json.Unmarshal([]byte(list.stdout.String()), &out))
	rebuilds := kindOf(out.Jobs, orchestrator.KindRebuild)
	require.Len(t, rebuilds, 1, "one rebuild job")
	require.Equal(t, orchestrator.StatusSucceeded, rebuilds[0].Status)
}

// Bad job input exits 2 with the reason, locally and through a daemon.
func TestJobBadInputIsAUsageError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 0)
	for _, args := range [][]string{
		{"job", "submit", "rebuild", "nope"},
		{"job", "submit", "explode", "web"},
		{"job", "submit", "rebuild", "web", "--image", "yesterday"},
		{"job", "show", "x"},
		{"job", "show", "77"},
		{"job", "list", "--status", "sleeping"},
	} {
		p := w.start(nil, args...)
		require.Equal(t, 2, p.wait(t), "%s", p)
		require.NotEmpty(t, p.stderr.String(), "%s", p)
	}
	dup1 := w.start(nil, "job", "submit", "retire-kept", "web")
	require.Equal(t, 0, dup1.wait(t), "%s", dup1)
	dup2 := w.start(nil, "job", "submit", "rebuild", "web")
	require.Equal(t, 1, dup2.wait(t), "%s", dup2)
	require.Contains(t, dup2.stderr.String(), "target web already has unfinished job 1 (retire-kept, queued)")
}

// SIGTERM in the middle of a rollout: the daemon exits 0 after the current step, the job
// is left queued to resume (not failed), and the next daemon finishes it with the same
// rollout. With keep_old 2s, the daemon then deletes the old servers kept for rollback
// once their keep-old time is over, without another rebuild (a retire-kept job).
func TestServeSIGTERMLeavesJobResumableAndKeepOldEndsOnTime(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, strings.Replace(leaseManifest, "keep_old: 1h", "keep_old: 2s", 1), time.Second)
	w.register("debian-12-a")
	env := []string{lease.EnvTTL + "=3s"}
	deploy := w.start(env, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")

	first, url := w.startServe(env)
	client := w.client(url)
	ctx := context.Background()
	job, err := client.Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindRebuild, Target: "web"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		j, err := client.Get(ctx, job.ID)
		if err != nil {
			return false
		}
		for _, e := range j.Events {
			if strings.Contains(e.Message, " creating ") {
				return true
			}
		}
		return false
	}, time.Minute, 20*time.Millisecond, "the rollout starts: %s", first)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, first.wait(t), "%s", first)

	show := w.start(nil, "job", "show", strconv.FormatInt(job.ID, 10), "--output", "json")
	require.Equal(t, 0, show.wait(t), "%s", show)
	var stopped orchestrator.Job
	require.NoError(t, json.Unmarshal([]byte(show.stdout.String()), &stopped))
	require.Equal(t, orchestrator.StatusQueued, stopped.Status, "left to resume, not failed")
	require.Contains(t, stopped.Reason, "interrupted by shutdown")

	second, url2 := w.startServe(env)
	client = w.client(url2)
	var done orchestrator.Job
	require.Eventually(t, func() bool {
		done, err = client.Get(ctx, job.ID)
		return err == nil && (done.Status == orchestrator.StatusSucceeded || done.Status == orchestrator.StatusFailed)
	}, 2*time.Minute, 100*time.Millisecond, "the next daemon finishes the job: %s", second)
	require.Equal(t, orchestrator.StatusSucceeded, done.Status, "reason %q; %s", done.Reason, second)
	require.Len(t, done.Rollouts, 1, "the same rollout, resumed")
	require.Equal(t, 2, done.Installed)
	w.assertServing(version)

	// keep-old: retire-kept jobs delete the two old servers once their 2s are over (one
	// job per slot or one for both, as their times come).
	var retired int
	var retire orchestrator.Job
	require.Eventually(t, func() bool {
		list, err := client.List(ctx, orchestrator.ListOptions{})
		if err != nil {
			return false
		}
		retired = 0
		for _, j := range list {
			if j.Kind == orchestrator.KindRetireKept && j.Status == orchestrator.StatusSucceeded {
				retired += j.Installed
				retire = j
			}
		}
		return retired == 2
	}, time.Minute, 100*time.Millisecond, "the daemon retires kept servers on time: %s", second)
	require.Equal(t, "daemon (keep-old time over)", retire.RequestedBy)
	st, err := store.Open(ctx, w.statePath())
	require.NoError(t, err)
	due, err := st.KeptDue(ctx, "web", time.Now().Add(time.Hour))
	st.Close()
	require.NoError(t, err)
	require.Zero(t, due, "no server left kept")
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, second.wait(t), "%s", second)
	// The cloud deletes servers asynchronously: wait until only the two slots' are left.
	require.Eventually(t, func() bool {
		servers, err := w.os.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "web-"})
		if err != nil {
			return false
		}
		n := 0
		for _, s := range servers {
			if s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
				n++
			}
		}
		return n == 2
	}, 30*time.Second, 50*time.Millisecond, "the old servers are deleted")
	w.assertNoStrays()
}

// The daemon enforces each family's retention (an image-retention job at start, then
// daily): with retention 1, the older of two versions is retired (and deleted, as no
// server boots from it), and the job says so. A retention job submitted through the
// daemon afterwards finds nothing left to do.
func TestServeImageRetentionJob(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator and the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, strings.Replace(leaseManifest, "    ssh_user: debian\n", "    ssh_user: debian\n    retention: 1\n", 1), 0)
	old := w.register("debian-12-a")
	w.register("debian-12-b")
	p, url := w.startServe(nil)
	client := w.client(url)
	var job orchestrator.Job
	require.Eventually(t, func() bool {
		list, err := client.List(context.Background(), orchestrator.ListOptions{})
		if err != nil {
			return false
		}
		for _, j := range kindOf(list, orchestrator.KindImageRetention) {
			job = j
			return j.Status == orchestrator.StatusSucceeded || j.Status == orchestrator.StatusFailed
		}
		return false
	}, time.Minute, 50*time.Millisecond, "%s", p)
	require.Equal(t, orchestrator.StatusSucceeded, job.Status, "reason %q", job.Reason)
	require.Equal(t, "daemon (retention, every 24h0m0s)", job.RequestedBy)
	require.GreaterOrEqual(t, job.Installed, 1)
	require.Len(t, job.Decisions, 1)
	require.Contains(t, job.Decisions[0], "retention of debian-12: keep 1 versions")
	require.Contains(t, job.Decisions[0], old)
	entries, err := w.cat.List(t.Context(), "debian-12")
	require.NoError(t, err)
	for _, e := range entries {
		if e.Version.String() == old {
			require.Equal(t, "retired", string(e.State), "%s", e)
		}
	}

	submit := w.start(w.tokenEnv(), "job", "submit", "image-retention", "debian-12", "--keep", "1", "--server", url, "--output", "json")
	require.Equal(t, 0, submit.wait(t), "%s", submit)
	var again orchestrator.Job
	require.NoError(t, json.Unmarshal([]byte(submit.stdout.String()), &again))
	require.Eventually(t, func() bool {
		j, err := client.Get(context.Background(), again.ID)
		again = j
		return err == nil && j.Status == orchestrator.StatusSucceeded
	}, time.Minute, 50*time.Millisecond, "%s", p)
	require.Equal(t, "token admin", again.RequestedBy, "who asked is the token, not what the client claims")
}

func kindOf(jobs []orchestrator.Job, kind string) []orchestrator.Job {
	var out []orchestrator.Job
	for _, j := range jobs {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

// The daemon fires the manifest's schedules by the wall clock: a rebuild every 3 seconds
// starts jobs (one at a time on web), an update schedule starts update jobs that ask the
// policy (rebuild first: web is replaceable, behind its address, with an image); schedule
// history shows both.
func TestServeFiresManifestSchedules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator and the remint binary")
	}
	remintBinary(t)
	mf := leaseManifest + `schedules:
  often-web:
    rrule: "DTSTART:20260101T000000Z RRULE:FREQ=SECONDLY;INTERVAL=3"
    window: 1h
    action: rebuild
    target: web
  patch-web:
    rrule: "DTSTART:20260101T000001Z RRULE:FREQ=SECONDLY;INTERVAL=3"
    window: 1h
    action: update
    target: web
`
	w := startWorld(t, mf, 0)
	w.register("debian-12-a")
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)

	p, url := w.startServe(nil)
	client := w.client(url)
	var fired, updated orchestrator.Job
	require.Eventually(t, func() bool {
		list, err := client.List(context.Background(), orchestrator.ListOptions{Status: orchestrator.StatusSucceeded})
		if err != nil {
			return false
		}
		for _, j := range list {
			switch j.Schedule {
			case "often-web":
				fired = j
			case "patch-web":
				updated = j
			}
		}
		return fired.ID != 0 && updated.ID != 0
	}, time.Minute, 100*time.Millisecond, "a scheduled job of each schedule runs: %s", p)
	require.Equal(t, orchestrator.KindUpdate, updated.Kind)
	require.True(t, strings.HasPrefix(updated.Decisions[0], "update web requested by schedule patch-web: rebuild: replaceable, onto debian-12 "), "%q", updated.Decisions)
	require.Contains(t, strings.Join(updated.Decisions, "\n"), "nothing to replace")
	require.Equal(t, "often-web", fired.Schedule)
	require.Equal(t, "schedule often-web", fired.RequestedBy)
	require.NotNil(t, fired.Run)
	require.Equal(t, time.Hour, fired.Run.End.Sub(fired.Run.Start))
	require.Contains(t, strings.Join(fired.Decisions, "\n"), "nothing to replace")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t), "%s", p)

	hist := w.start(nil, "schedule", "history", "--output", "json")
	require.Equal(t, 0, hist.wait(t), "%s", hist)
	var out struct {
		Runs []orchestrator.ScheduleRunView `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(hist.stdout.String()), &out))
	var firedRun, firedUpdate bool
	for _, r := range out.Runs {
		firedRun = firedRun || (r.Schedule == "often-web" && r.Outcome == store.RunFired && r.JobID == fired.ID)
		firedUpdate = firedUpdate || (r.Schedule == "patch-web" && r.Outcome == store.RunFired && r.JobID == updated.ID)
	}
	require.True(t, firedRun, "%s", hist.stdout)
	require.True(t, firedUpdate, "%s", hist.stdout)
}

// Two real `remint serve` processes on one PostgreSQL: a rebuild job runs on one of them;
// that one is killed with SIGKILL mid-rollout; the other rescues the job once its lease
// expired and finishes it, resuming the same rollout: one job, one rollout, every server
// replaced once, every address serving the new image.
func TestTwoServesOnPostgresKillOneMidRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, boots servers on the simulator and runs the remint binary")
	}
	dsn := pgtest.Start(t)
	remintBinary(t)
	w := startWorld(t, strings.Replace(leaseManifest, "state: state/remint.db", "state: "+dsn, 1), time.Second)
	w.register("debian-12-a")
	env := []string{lease.EnvTTL + "=3s"}
	deploy := w.start(env, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")

	a, urlA := w.startServe(env)
	b, urlB := w.startServe(env)
	ctx := context.Background()
	job, err := w.client(urlA).Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindRebuild, Target: "web"})
	require.NoError(t, err)
	_, err = w.client(urlB).Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindRebuild, Target: "web"})
	var dup *orchestrator.DuplicateError
	require.ErrorAs(t, err, &dup, "the other daemon refuses a second job on web")

	st, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer st.Close()
	var holder int
	require.Eventually(t, func() bool {
		j, err := w.client(urlA).Get(ctx, job.ID)
		if err != nil {
			return false
		}
		started := false
		for _, e := range j.Events {
			started = started || strings.Contains(e.Message, " creating ")
		}
		l, err := st.GetLease(ctx, "job/"+strconv.FormatInt(job.ID, 10))
		if err != nil || !started {
			return false
		}
		holder = l.Holder.PID
		return true
	}, time.Minute, 20*time.Millisecond, "the rollout starts on one daemon:\n%s\n%s", a, b)
	victim, survivor, survivorURL := a, b, urlB
	if holder == b.pid() {
		victim, survivor, survivorURL = b, a, urlA
	}
	require.Equal(t, holder, victim.pid(), "the job runs on one of the two daemons")
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, victim.wait(t))

	client := w.client(survivorURL)
	var done orchestrator.Job
	require.Eventually(t, func() bool {
		done, err = client.Get(ctx, job.ID)
		return err == nil && (done.Status == orchestrator.StatusSucceeded || done.Status == orchestrator.StatusFailed)
	}, 2*time.Minute, 100*time.Millisecond, "the other daemon finishes the job: %s", survivor)
	require.Equal(t, orchestrator.StatusSucceeded, done.Status, "reason %q; %s", done.Reason, survivor)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, 2, done.Installed)
	require.Len(t, done.Rollouts, 1)
	l, err := st.GetLease(ctx, "job/"+strconv.FormatInt(job.ID, 10))
	require.NoError(t, err)
	require.Equal(t, survivor.pid(), l.Holder.PID, "attempt 2 ran on the survivor")

	list, err := client.List(ctx, orchestrator.ListOptions{})
	require.NoError(t, err)
	require.Len(t, kindOf(list, orchestrator.KindRebuild), 1, "one rebuild job")
	rollouts, err := st.Rollouts(ctx, "web")
	require.NoError(t, err)
	require.Len(t, rollouts, 2, "the first deploy and the job's one rollout")
	for _, r := range rollouts {
		require.Equal(t, store.RolloutCompleted, r.Status)
	}
	w.assertServing(version)
	require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, survivor.wait(t), "%s", survivor)
}

// The console's schedule writes tell the daemon (once per change that happened).
func TestConsoleScheduleBookNotifiesTheDaemon(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir()+"/state.db")
	require.NoError(t, err)
	defer st.Close()
	n := 0
	b := &orchestrator.ScheduleBook{Store: st, Changed: func() { n++ }}
	spec := orchestrator.ScheduleSpec{Name: "nightly", RRule: "DTSTART:20260101T020000Z RRULE:FREQ=DAILY", Window: 2 * time.Hour,
		Enabled: true, Action: "rebuild", Target: "web"}
	d, err := b.Create(ctx, spec, "token t")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.Create(ctx, spec, "token t")
	require.Error(t, err, "the name exists")
	require.Equal(t, 1, n, "a refused create changes nothing")
	spec.Window = 3 * time.Hour
	_, err = b.Update(ctx, d.ID, spec)
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, d.ID))
	require.Equal(t, 3, n)
}
