package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/workload"
)

func init() { register(newLoadgenCmd) }

// Bounds of the load generator: it never runs longer than maxLoadDuration, never with
// more than maxLoadConcurrency workers, and remembers a bounded amount per URL.
const (
	maxLoadDuration    = 30 * time.Minute
	maxLoadConcurrency = 64
	maxServers         = 16 // answering servers listed per URL; answers by more count as others
	maxErrorKinds      = 5  // distinct error messages kept per URL; the rest count as "other"
)

type loadgenOptions struct {
	duration       time.Duration
	untilFile      string
	concurrency    int
	interval       time.Duration
	reconnectAfter time.Duration
	timeout        time.Duration
	output         string
}

// newLoadgenCmd is the bounded load generator `make demo` and operators use to watch a
// rebuild from the client's side. Hidden from the command list (it is a test tool, not
// part of keeping fleets patched) but documented in its help and the README.
func newLoadgenCmd() *cobra.Command {
	var o loadgenOptions
	cmd := &cobra.Command{
		Use:    "loadgen URL...",
		Short:  "Send steady HTTP load to URLs and count failed requests and who answered",
		Hidden: true,
		Long: `Send GET requests to every URL from a few workers until --duration is over, --until-file
exists, or SIGINT/SIGTERM; then print, per URL, how many requests were sent, how many
failed, and which servers and image versions answered, in the order they took over.

A request fails on a transport error, a timeout, a status other than 200, or a body that
is not the simulator workload's JSON. Answers are attributed with the body's server_id,
image_name and image_version (the X-Remint-Server-Id header when the body lacks them).

The load is bounded: --concurrency workers (default 4), each sending one request at a time
with --interval between them, across all URLs in turn. Connections are kept alive and
reused; a connection older than --reconnect-after is closed after its next request, so
traffic follows an address that moved to another server within about that long while
the number of new connections stays low.

Exit status: 0 when no request failed, 1 when any did, 2 for bad flags or URLs.`,
		Example: `  # Watch a rebuild through the group's addresses; stop when the file appears
  remint loadgen --until-file /tmp/stop http://172.24.4.10:8080/ http://172.24.4.11:8080/ &
  remint rebuild web; touch /tmp/stop; wait

  # One second of load, JSON summary
  remint loadgen --duration 1s --output json http://172.24.4.10:8080/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoadgen(cmd.Context(), cmd.OutOrStdout(), args, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", time.Minute, "stop after this long (at most "+maxLoadDuration.String()+"; also the bound with --until-file)")
	f.StringVar(&o.untilFile, "until-file", "", "stop as soon as this file exists")
	f.IntVar(&o.concurrency, "concurrency", 4, fmt.Sprintf("workers, each with one request in flight (1-%d)", maxLoadConcurrency))
	f.DurationVar(&o.interval, "interval", 10*time.Millisecond, "pause of each worker between requests")
	f.DurationVar(&o.reconnectAfter, "reconnect-after", time.Second, "close a kept-alive connection after its next request once it is this old")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "timeout of one request")
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runLoadgen(ctx context.Context, stdout io.Writer, args []string, o loadgenOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	cfg, err := o.config(args)
	if err != nil {
		return err
	}
	rep := runLoad(ctx, cfg)
	if o.output == "json" {
		err = writeJSON(stdout, rep)
	} else {
		_, err = io.WriteString(stdout, rep.String())
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed", rep.Failed, rep.Total)
	}
	return nil
}

// config checks the flags and URLs; every problem is a usage error.
func (o loadgenOptions) config(args []string) (loadConfig, error) {
	switch {
	case o.duration <= 0 || o.duration > maxLoadDuration:
		return loadConfig{}, usageErrorf("--duration %s: want more than 0 and at most %s", o.duration, maxLoadDuration)
	case o.concurrency < 1 || o.concurrency > maxLoadConcurrency:
		return loadConfig{}, usageErrorf("--concurrency %d: want 1 to %d", o.concurrency, maxLoadConcurrency)
	case o.interval < 0:
		return loadConfig{}, usageErrorf("--interval %s: must not be negative", o.interval)
	case o.reconnectAfter <= 0:
		return loadConfig{}, usageErrorf("--reconnect-after %s: want more than 0", o.reconnectAfter)
	case o.timeout <= 0:
		return loadConfig{}, usageErrorf("--timeout %s: want more than 0", o.timeout)
	}
	seen := map[string]bool{}
	for _, a := range args {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return loadConfig{}, usageErrorf("URL %q: want http://HOST[:PORT]/PATH", a)
		}
		if seen[a] {
			return loadConfig{}, usageErrorf("URL %q given twice", a)
		}
		seen[a] = true
	}
	return loadConfig{
		URLs: args, Duration: o.duration, UntilFile: o.untilFile, Concurrency: o.concurrency,
		Interval: o.interval, ReconnectAfter: o.reconnectAfter, Timeout: o.timeout, Now: time.Now,
	}, nil
}

// loadConfig is a checked load run.
type loadConfig struct {
	URLs           []string
	Duration       time.Duration
	UntilFile      string
	Concurrency    int
	Interval       time.Duration
	ReconnectAfter time.Duration
	Timeout        time.Duration
	Now            func() time.Time
}

// loadReport is what a load run saw.
type loadReport struct {
	Started   time.Time   `json:"started"`
	Elapsed   float64     `json:"elapsed_seconds"`
	StoppedBy string      `json:"stopped_by"` // duration, until-file or signal
	Total     int64       `json:"total"`
	Failed    int64       `json:"failed"`
	URLs      []urlReport `json:"urls"`
}

type urlReport struct {
	URL      string           `json:"url"`
	Total    int64            `json:"total"`
	Failed   int64            `json:"failed"`
	Versions map[string]int64 `json:"versions"` // image_version ("" when the image has none) → answers
	// Servers lists who answered, in the order of their first answer (at most
	// maxServers; answers by further servers are counted in OtherServers). Around an
	// address move the old and the new server overlap: kept-alive connections finish on
	// the old one while new connections reach the new one.
	Servers      []answerRun      `json:"servers"`
	OtherServers int64            `json:"other_servers,omitempty"`
	Errors       map[string]int64 `json:"errors,omitempty"` // error message → count
}

// answerRun counts the answers of one server, with the times of its first and last.
type answerRun struct {
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
	rep urlReport
}

func (s *urlStats) ok(info workload.Info, at time.Time) {
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
	if len(s.rep.Servers) == maxServers {
		s.rep.OtherServers++
		return
	}
	s.rep.Servers = append(s.rep.Servers, answerRun{ServerID: info.ServerID, ServerName: info.ServerName, ImageName: info.ImageName,
		ImageVersion: info.ImageVersion, Count: 1, First: at, Last: at})
}

func (s *urlStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.Total++
	s.rep.Failed++
	msg := err.Error()
	if _, known := s.rep.Errors[msg]; !known && len(s.rep.Errors) >= maxErrorKinds {
		msg = "other errors"
	}
	s.rep.Errors[msg]++
}

// runLoad sends load as cfg says until the duration is over, the until-file exists or
// ctx is cancelled; requests in flight then finish (bounded by the request timeout) and
// count. It never fails: what went wrong is in the report.
func runLoad(ctx context.Context, cfg loadConfig) loadReport {
	start := cfg.Now()
	stats := make([]*urlStats, len(cfg.URLs))
	for i, u := range cfg.URLs {
		stats[i] = &urlStats{rep: urlReport{URL: u, Versions: map[string]int64{}, Servers: []answerRun{}, Errors: map[string]int64{}}}
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
		wg.Go(func() { loadWorker(w, cfg, stats, stop) })
	}
	wg.Wait()

	rep := loadReport{Started: start, Elapsed: cfg.Now().Sub(start).Seconds(), StoppedBy: <-stoppedBy}
	for _, s := range stats {
		rep.Total += s.rep.Total
		rep.Failed += s.rep.Failed
		rep.URLs = append(rep.URLs, s.rep)
	}
	return rep
}

// loadWorker sends one request at a time, to each URL in turn (worker w starts at URL w,
// so workers spread over the URLs), on its own kept-alive connections.
func loadWorker(w int, cfg loadConfig, stats []*urlStats, stop <-chan struct{}) {
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
		info, err := loadOnce(client, cfg, k, opened)
		if err != nil {
			stats[k].fail(err)
		} else {
			stats[k].ok(info, cfg.Now())
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

// loadOnce sends one GET to URL k and checks the answer.
func loadOnce(client *http.Client, cfg loadConfig, k int, opened []time.Time) (workload.Info, error) {
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if !ci.Reused {
			opened[k] = cfg.Now()
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, cfg.URLs[k], nil)
	if err != nil {
		return workload.Info{}, err
	}
	req.Header.Set("Accept", "application/json")
	if !opened[k].IsZero() && cfg.Now().Sub(opened[k]) >= cfg.ReconnectAfter {
		req.Close = true // the transport closes this connection after the response
	}
	resp, err := client.Do(req)
	if req.Close {
		opened[k] = time.Time{}
	}
	if err != nil {
		return workload.Info{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return workload.Info{}, fmt.Errorf("read the answer of %s: %w", cfg.URLs[k], err)
	}
	if resp.StatusCode != http.StatusOK {
		return workload.Info{}, fmt.Errorf("status %s", resp.Status)
	}
	var info workload.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return workload.Info{}, fmt.Errorf("answer is not the workload's JSON: %w", err)
	}
	if info.ServerID == "" {
		info.ServerID = resp.Header.Get(workload.HeaderServerID)
	}
	if info.ServerID == "" {
		return workload.Info{}, errors.New("answer names no server (no server_id, no " + workload.HeaderServerID + ")")
	}
	return info, nil
}

const clockFormat = "15:04:05.000"

// String renders the report for people: a total line, then per URL who answered, from
// when to when.
func (r loadReport) String() string {
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
