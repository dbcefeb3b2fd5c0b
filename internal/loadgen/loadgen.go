// Package loadgen sends bounded HTTP load to workload addresses and reports, per URL, how
// many requests failed and which servers and image versions answered, from when to when.
// `remint loadgen`, `make demo`, the failover tests and benchmarks and the end-to-end
// tests all measure "failed requests during a rollout" with it.
//
// The load is bounded: Concurrency workers, one request in flight each, for at most
// Duration. Connections are kept alive and recycled after ReconnectAfter (0: a new
// connection for every request), so traffic follows a moved address while few
// connections are opened. Entry points: Run, Start.
//
// What counts as an answer: status 200 with a JSON body (see Answer) that names the server
// in server_id, or else a HeaderServerID header. The simulator's workload answers so; an
// application on real servers can too, which is why the contract is declared here, by the
// reader, and not imported from the simulated world.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Bounds of what a run remembers per URL.
const (
	MaxServers    = 16 // answering servers listed per URL; answers by more count as others
	MaxErrorKinds = 5  // distinct error messages kept per URL; the rest count as "other"
)

// HeaderServerID names the answering server on a response whose JSON body has no server_id.
const HeaderServerID = "X-Remint-Server-Id"

// Answer is the part of a 200 answer's JSON body that a load run reads; other fields are
// ignored.
type Answer struct {
	ServerID     string `json:"server_id"`
	ServerName   string `json:"server_name"`
	ImageName    string `json:"image_name"`
	ImageVersion string `json:"image_version"` // "" when the image has none
}

// Config is one load run. URLs, Duration, Concurrency and Timeout must be set; Now
// defaults to time.Now.
type Config struct {
	URLs           []string
	Duration       time.Duration
	UntilFile      string
	Concurrency    int
	Interval       time.Duration
	ReconnectAfter time.Duration
	Timeout        time.Duration
	Now            func() time.Time
}

// Report is what a load run saw.
type Report struct {
	Started   time.Time   `json:"started"`
	Elapsed   float64     `json:"elapsed_seconds"`
	StoppedBy string      `json:"stopped_by"` // duration, until-file or signal
	Total     int64       `json:"total"`
	Failed    int64       `json:"failed"`
	URLs      []URLReport `json:"urls"`
}

type URLReport struct {
	URL      string           `json:"url"`
	Total    int64            `json:"total"`
	Failed   int64            `json:"failed"`
	Versions map[string]int64 `json:"versions"` // image_version ("" when the image has none) → answers
	// Servers lists who answered, in the order of their first answer (at most
	// MaxServers; answers by further servers are counted in OtherServers). Around an
	// address move the old and the new server overlap: kept-alive connections finish on
	// the old one while new connections reach the new one.
	Servers      []AnswerRun      `json:"servers"`
	OtherServers int64            `json:"other_servers,omitempty"`
	Errors       map[string]int64 `json:"errors,omitempty"` // error message → count
}

// AnswerRun counts the answers of one server; First and Last are when the first and the
// last request it answered were sent.
type AnswerRun struct {
	ServerID     string    `json:"server_id"`
	ServerName   string    `json:"server_name,omitempty"`
	ImageName    string    `json:"image_name,omitempty"`
	ImageVersion string    `json:"image_version"`
	Count        int64     `json:"count"`
	First        time.Time `json:"first"`
	Last         time.Time `json:"last"`
}

// urlStats accumulates one URL's results; guarded by mu.
type urlStats struct {
	mu  sync.Mutex
	rep URLReport
}

func (s *urlStats) ok(info Answer, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.Total++
	s.rep.Versions[info.ImageVersion]++
	for i := range s.rep.Servers {
		if a := &s.rep.Servers[i]; a.ServerID == info.ServerID {
			a.Count++
			a.Last = at
			return
		}
	}
	if len(s.rep.Servers) == MaxServers {
		s.rep.OtherServers++
		return
	}
	s.rep.Servers = append(s.rep.Servers, AnswerRun{ServerID: info.ServerID, ServerName: info.ServerName, ImageName: info.ImageName,
		ImageVersion: info.ImageVersion, Count: 1, First: at, Last: at})
}

func (s *urlStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.Total++
	s.rep.Failed++
	msg := err.Error()
	if _, known := s.rep.Errors[msg]; !known && len(s.rep.Errors) >= MaxErrorKinds {
		msg = "other errors"
	}
	s.rep.Errors[msg]++
}

// Run sends load as cfg says until the duration is over, the until-file exists or
// ctx is cancelled; requests in flight then finish (bounded by the request timeout) and
// count. It never fails: what went wrong is in the report.
func Run(ctx context.Context, cfg Config) Report {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	start := cfg.Now()
	stats := make([]*urlStats, len(cfg.URLs))
	for i, u := range cfg.URLs {
		stats[i] = &urlStats{rep: URLReport{URL: u, Versions: map[string]int64{}, Servers: []AnswerRun{}, Errors: map[string]int64{}}}
	}

	stop := make(chan struct{})
	stoppedBy := make(chan string, 1)
	go func() {
		timer := time.NewTimer(cfg.Duration)
		defer timer.Stop()
		var tick <-chan time.Time
		if cfg.UntilFile != "" {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			tick = t.C
		}
		why := ""
		for why == "" {
			select {
			case <-ctx.Done():
				why = "signal"
			case <-timer.C:
				why = "duration"
			case <-tick:
				if _, err := os.Stat(cfg.UntilFile); err == nil {
					why = "until-file"
				}
			}
		}
		stoppedBy <- why
		close(stop)
	}()

	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() { worker(w, cfg, stats, stop) })
	}
	wg.Wait()

	rep := Report{Started: start, Elapsed: cfg.Now().Sub(start).Seconds(), StoppedBy: <-stoppedBy}
	for _, s := range stats {
		rep.Total += s.rep.Total
		rep.Failed += s.rep.Failed
		rep.URLs = append(rep.URLs, s.rep)
	}
	return rep
}

// worker sends one request at a time, to each URL in turn (worker w starts at URL w,
// so workers spread over the URLs), on its own kept-alive connections.
func worker(w int, cfg Config, stats []*urlStats, stop <-chan struct{}) {
	tr := &http.Transport{
		Proxy:               nil, // the targets are addresses on this machine, never via a proxy
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	opened := make([]time.Time, len(cfg.URLs)) // when this worker's connection to each URL was made
	var pause *time.Timer
	for i := w; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		k := i % len(cfg.URLs)
		sent := cfg.Now()
		info, err := once(client, cfg, k, opened)
		if err != nil {
			stats[k].fail(err)
		} else {
			stats[k].ok(info, sent)
		}
		if cfg.Interval <= 0 {
			continue
		}
		if pause == nil {
			pause = time.NewTimer(cfg.Interval)
		} else {
			pause.Reset(cfg.Interval)
		}
		select {
		case <-stop:
			return
		case <-pause.C:
		}
	}
}

// once sends one GET to URL k and checks the answer.
func once(client *http.Client, cfg Config, k int, opened []time.Time) (Answer, error) {
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if !ci.Reused {
			opened[k] = cfg.Now()
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, cfg.URLs[k], nil)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Accept", "application/json")
	if cfg.ReconnectAfter <= 0 || !opened[k].IsZero() && cfg.Now().Sub(opened[k]) >= cfg.ReconnectAfter {
		req.Close = true // the transport closes this connection after the response
	}
	resp, err := client.Do(req)
	if req.Close {
		opened[k] = time.Time{}
	}
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Answer{}, fmt.Errorf("read the answer of %s: %w", cfg.URLs[k], err)
	}
	if resp.StatusCode != http.StatusOK {
		return Answer{}, fmt.Errorf("status %s", resp.Status)
	}
	var info Answer
	if err := json.Unmarshal(body, &info); err != nil {
		return Answer{}, fmt.Errorf("answer is not the workload's JSON: %w", err)
	}
	if info.ServerID == "" {
		info.ServerID = resp.Header.Get(HeaderServerID)
	}
	if info.ServerID == "" {
		return Answer{}, errors.New("answer names no server (no server_id, no " + HeaderServerID + ")")
	}
	return info, nil
}

const clockFormat = "15:04:05.000"

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// String renders the report for people: a total line, then per URL who answered, from
// when to when.
func (r Report) String() string {
	var b strings.Builder
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Total) / r.Elapsed
	}
	fmt.Fprintf(&b, "%d requests in %.1fs (%.0f/s), %d failed; stopped by %s\n", r.Total, r.Elapsed, rate, r.Failed, r.StoppedBy)
	for _, u := range r.URLs {
		fmt.Fprintf(&b, "%s  %d requests, %d failed\n", u.URL, u.Total, u.Failed)
		for _, a := range u.Servers {
			name := a.ServerName
			if name == "" {
				name = short(a.ServerID)
			}
			fmt.Fprintf(&b, "  %-16s version %-10s ×%-6d %s–%s  image %s\n", name, orDash(a.ImageVersion), a.Count,
				a.First.Format(clockFormat), a.Last.Format(clockFormat), orDash(a.ImageName))
		}
		if u.OtherServers > 0 {
			fmt.Fprintf(&b, "  %d answers by further servers\n", u.OtherServers)
		}
		msgs := make([]string, 0, len(u.Errors))
		for m := range u.Errors {
			msgs = append(msgs, m)
		}
		sort.Strings(msgs)
		for _, m := range msgs {
			fmt.Fprintf(&b, "  failed ×%d: %s\n", u.Errors[m], m)
		}
	}
	return b.String()
}

// Load is a run in the background, for tests that watch a rollout.
type Load struct {
	cancel context.CancelFunc
	done   chan Report
}

// Start runs cfg in the background until Stop (or cfg.Duration).
func Start(cfg Config) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel, done: make(chan Report, 1)}
	go func() { l.done <- Run(ctx, cfg) }()
	return l
}

// Stop ends the run; requests in flight finish and count. It returns the report.
func (l *Load) Stop() Report {
	l.cancel()
	return <-l.done
}

// Versions adds up, over every URL, how many answers each image version gave.
func (r Report) Versions() map[string]int64 {
	out := map[string]int64{}
	for _, u := range r.URLs {
		for v, n := range u.Versions {
			out[v] += n
		}
	}
	return out
}

// FirstErrors returns up to n distinct error messages, for test failure messages.
func (r Report) FirstErrors(n int) []string {
	var out []string
	for _, u := range r.URLs {
		for m := range u.Errors {
			if len(out) < n {
				out = append(out, u.URL+": "+m)
			}
		}
	}
	sort.Strings(out)
	return out
}
