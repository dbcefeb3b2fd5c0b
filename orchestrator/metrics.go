package orchestrator

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river/rivertype"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/store"
)

// Observer is told what the queue's jobs and the daemon's schedules did; Metrics
// implements it. Calls come from job workers and the daemon's tick: they must be quick.
type Observer interface {
	// JobEnded is called when an attempt of a job ends (not when it is stopped by a
	// shutdown to resume later).
	JobEnded(JobEnd)
	// RolloutEvent sees every event of the rollouts jobs run.
	RolloutEvent(failover.Event)
	// InPlaceCounted reports the updates an in-place run installed and failed.
	InPlaceCounted(group string, installed, failed int)
	// ScheduleFired reports a schedule run queued at fired, due at due.
	ScheduleFired(schedule string, due, fired time.Time)
}

// JobEnd is a job's attempt as it ended.
type JobEnd struct {
	Kind, Target string
	Status       string // succeeded, failed or cancelled
	// Duration is from the job's first start to its end (all attempts).
	Duration          time.Duration
	Installed, Failed int
}

// Observe makes the queue (and a daemon on it) report to o. Call before Start.
func (q *Queue) Observe(o Observer) { q.observer = o }

func (q *Queue) observe(f func(Observer)) {
	if q.observer != nil {
		f(q.observer)
	}
}

// ImageBuilt returns when each family's active image was built (families without one are
// left out).
type ImageBuilt func(ctx context.Context) (map[string]time.Time, error)

// Metrics are remint serve's Prometheus metrics: counters and histograms observed as jobs,
// rollouts and schedules happen, and gauges read at scrape time (jobs by kind and status
// from the store, image age from the catalog, cached).
type Metrics struct {
	reg *prometheus.Registry

	jobSeconds     *prometheus.HistogramVec
	rolloutSeconds *prometheus.HistogramVec
	buildSeconds   *prometheus.HistogramVec
	healthFailures *prometheus.CounterVec
	moves          *prometheus.CounterVec
	scheduleLag    *prometheus.HistogramVec
	inplaceDone    *prometheus.CounterVec
	inplaceFailed  *prometheus.CounterVec

	mu       sync.Mutex
	rollouts map[string]rolloutSeen // by rollout id
}

type rolloutSeen struct {
	start time.Time
	group string
	step  map[int]string // each slot's last step
}

// MetricsOptions configure NewMetrics.
type MetricsOptions struct {
	Store *store.Store
	// Images reads the catalog; nil leaves out remint_image_age_days.
	Images ImageBuilt
	// ImagesTTL caches the catalog's answer between scrapes (default 1 minute).
	ImagesTTL time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// NewMetrics registers remint's metrics (and Go's and the process's) in a registry of
// their own.
func NewMetrics(o MetricsOptions) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ImagesTTL <= 0 {
		o.ImagesTTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	long := []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "remint_job_duration_seconds",
			Help: "Time from a job's first start to its end, by kind and status.", Buckets: long}, []string{"kind", "status"}),
		rolloutSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "remint_rollout_duration_seconds",
			Help: "Time from a rollout's plan (or its resumption) to its end, by group and result (completed, failed, rolled-back).", Buckets: long},
			[]string{"group", "result"}),
		buildSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "remint_image_build_duration_seconds",
			Help: "Duration of build-image jobs, by family and status.", Buckets: long}, []string{"family", "status"}),
		healthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remint_health_check_failures_total",
			Help: "Replacement servers that failed their health check (before the address moved, or checked through it after), by group."},
			[]string{"group"}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remint_failover_moves_total",
			Help: "Failover address moves, by group and direction (to-replacement, back)."}, []string{"group", "direction"}),
		scheduleLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "remint_schedule_lag_seconds",
			Help:    "Time from a schedule run's due time to its job being queued (fired - due), by schedule.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600}}, []string{"schedule"}),
		inplaceDone: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remint_inplace_updates_installed_total",
			Help: "Package updates installed in place, by group."}, []string{"group"}),
		inplaceFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remint_inplace_updates_failed_total",
			Help: "Package updates that failed to install in place, by group."}, []string{"group"}),
		rollouts: map[string]rolloutSeen{},
	}
	m.reg.MustRegister(m.jobSeconds, m.rolloutSeconds, m.buildSeconds, m.healthFailures, m.moves, m.scheduleLag, m.inplaceDone, m.inplaceFailed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Store != nil {
		m.reg.MustRegister(&jobsCollector{st: o.Store, log: o.Logger})
	}
	if o.Images != nil {
		m.reg.MustRegister(&imageAgeCollector{read: o.Images, ttl: o.ImagesTTL, now: o.Now, log: o.Logger})
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	// A collector that cannot read (the cloud is down for image ages) drops its series
	// from this scrape; the rest is still served.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is where the metrics are registered (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) JobEnded(e JobEnd) {
	m.jobSeconds.WithLabelValues(e.Kind, e.Status).Observe(e.Duration.Seconds())
	if e.Kind == KindBuildImage {
		m.buildSeconds.WithLabelValues(e.Target, e.Status).Observe(e.Duration.Seconds())
	}
}

func (m *Metrics) InPlaceCounted(group string, installed, failed int) {
	m.inplaceDone.WithLabelValues(group).Add(float64(installed))
	m.inplaceFailed.WithLabelValues(group).Add(float64(failed))
}

func (m *Metrics) ScheduleFired(schedule string, due, fired time.Time) {
	m.scheduleLag.WithLabelValues(schedule).Observe(max(fired.Sub(due), 0).Seconds())
}

// RolloutEvent follows each rollout's events: its start (planned, resume) and end
// (completed, failed, rolled-back) give its duration; a slot entering gating means its
// address moved to the replacement, moved-back that it moved back; a failure while a slot
// was checking or gating is a failed health check.
func (m *Metrics) RolloutEvent(e failover.Event) {
	if e.Rollout == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rollouts[e.Rollout]
	if !ok {
		r = rolloutSeen{start: e.Time, group: e.Group, step: map[int]string{}}
		m.rollouts[e.Rollout] = r
	}
	if e.Slot < 0 {
		switch e.Step {
		case "planned", "resume":
			r.start = e.Time
			m.rollouts[e.Rollout] = r
		case "completed", "failed", "rolled-back":
			m.rolloutSeconds.WithLabelValues(e.Group, e.Step).Observe(max(e.Time.Sub(r.start), 0).Seconds())
			delete(m.rollouts, e.Rollout)
		}
		return
	}
	last := r.step[e.Slot]
	switch {
	case e.Step == failover.StateGating && last != failover.StateGating:
		m.moves.WithLabelValues(e.Group, "to-replacement").Inc()
	case e.Step == "moved-back":
		m.moves.WithLabelValues(e.Group, "back").Inc()
	}
	if e.Failed && (last == failover.StateChecking || last == failover.StateGating) {
		m.healthFailures.WithLabelValues(e.Group).Inc()
	}
	r.step[e.Slot] = e.Step
}

// jobsCollector reads jobs by kind and status from the store at scrape time.
type jobsCollector struct {
	st  *store.Store
	log *slog.Logger
}

var jobsDesc = prometheus.NewDesc("remint_jobs", "Jobs in the state store, by kind and status (queued, running, succeeded, failed, cancelled).",
	[]string{"kind", "status"}, nil)

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.st.JobCounts(ctx)
	if err != nil {
		c.log.Warn("metrics: count jobs", "err", err)
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	sum := map[[2]string]int{}
	for _, n := range counts {
		sum[[2]string{n.Kind, statusOf(rivertype.JobState(n.RiverState))}] += n.Count
	}
	for k, n := range sum {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

// imageAgeCollector reads each family's active image from the catalog at scrape time,
// at most once per ttl (the cloud is not asked on every scrape).
type imageAgeCollector struct {
	read ImageBuilt
	ttl  time.Duration
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	at      time.Time
	built   map[string]time.Time
	lastErr error
}

var imageAgeDesc = prometheus.NewDesc("remint_image_age_days", "Days since each family's active image was built.", []string{"family"}, nil)

func (c *imageAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- imageAgeDesc }

func (c *imageAgeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		built, err := c.read(ctx)
		cancel()
		c.at, c.lastErr = now, err
		if err == nil {
			c.built = built
		} else {
			c.log.Warn("metrics: read the image catalog", "err", err)
		}
	}
	if c.lastErr != nil && c.built == nil {
		ch <- prometheus.NewInvalidMetric(imageAgeDesc, c.lastErr)
		return
	}
	fams := make([]string, 0, len(c.built))
	for f := range c.built {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	for _, f := range fams {
		ch <- prometheus.MustNewConstMetric(imageAgeDesc, prometheus.GaugeValue, now.Sub(c.built[f]).Hours()/24, f)
	}
}
