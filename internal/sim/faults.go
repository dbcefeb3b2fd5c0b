package sim

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultRule describes what goes wrong with an operation. Rates are probabilities in [0,1]
// drawn independently per call in this order: rate limit (429), error, conflict (409).
type FaultRule struct {
	// Latency is added before the call is answered (or fails).
	Latency time.Duration
	// ErrorRate is the probability of answering Status instead of doing the call.
	// For the pseudo-operation compute.server.boot it is the probability that a server
	// goes to ERROR instead of ACTIVE.
	ErrorRate float64
	// Status is the error status for ErrorRate; default 500. 503 carries Retry-After.
	Status int
	// RateLimitRate is the probability of 429 Too Many Requests with Retry-After.
	RateLimitRate float64
	// RetryAfter is sent with 429 and 503 (rounded up to whole seconds); default 1s.
	RetryAfter time.Duration
	// ConflictRate is the probability of 409 Conflict.
	ConflictRate float64
	// Times, when > 0, is how many calls the rule affects (whether or not a draw fired)
	// before it removes itself; 0 means until changed.
	Times int
}

// Faults holds the fault-injection rules of a simulator, keyed by operation pattern:
// an exact operation ("compute.server.create"), a service wildcard ("compute.*") or "*".
// The most specific matching rule applies.
type Faults struct {
	mu    sync.Mutex
	rules map[string]*FaultRule
	rnd   *mrand.Rand
}

func newFaults(seed uint64) *Faults {
	return &Faults{rules: map[string]*FaultRule{}, rnd: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Set installs rule r for pattern, replacing any previous one.
func (f *Faults) Set(pattern string, r FaultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rr := r
	f.rules[pattern] = &rr
}

// Clear removes the rule for pattern; Clear("") removes every rule.
func (f *Faults) Clear(pattern string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pattern == "" {
		f.rules = map[string]*FaultRule{}
		return
	}
	delete(f.rules, pattern)
}

// Rules returns a copy of the installed rules.
func (f *Faults) Rules() map[string]FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]FaultRule, len(f.rules))
	for k, v := range f.rules {
		out[k] = *v
	}
	return out
}

// decision is what one call suffers.
type decision struct {
	latency    time.Duration
	status     int // 0: no error
	retryAfter time.Duration
}

// decide draws the fault for one call of op.
func (f *Faults) decide(op string) decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, r := f.match(op)
	if r == nil {
		return decision{}
	}
	d := decision{latency: r.Latency}
	retryAfter := r.RetryAfter
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	switch {
	case r.RateLimitRate > 0 && f.rnd.Float64() < r.RateLimitRate:
		d.status, d.retryAfter = http.StatusTooManyRequests, retryAfter
	case r.ErrorRate > 0 && f.rnd.Float64() < r.ErrorRate:
		d.status = r.Status
		if d.status == 0 {
			d.status = http.StatusInternalServerError
		}
		if d.status == http.StatusServiceUnavailable {
			d.retryAfter = retryAfter
		}
	case r.ConflictRate > 0 && f.rnd.Float64() < r.ConflictRate:
		d.status = http.StatusConflict
	}
	if r.Times > 0 {
		r.Times--
		if r.Times == 0 {
			delete(f.rules, key)
		}
	}
	return d
}

func (f *Faults) match(op string) (string, *FaultRule) {
	if r, ok := f.rules[op]; ok {
		return op, r
	}
	if i := strings.IndexByte(op, '.'); i > 0 {
		k := op[:i] + ".*"
		if r, ok := f.rules[k]; ok {
			return k, r
		}
	}
	if r, ok := f.rules["*"]; ok {
		return "*", r
	}
	return "", nil
}

// Fails draws whether a non-HTTP operation (such as compute.server.boot) fails, after
// waiting out its latency. It returns false when ctx ends first.
func (f *Faults) Fails(ctx context.Context, op string) bool {
	d := f.decide(op)
	if !sleepCtx(ctx, d.latency) {
		return false
	}
	return d.status != 0
}

// inject applies the rule for op to one HTTP call; it reports whether it answered the
// call itself (with an error).
func (f *Faults) inject(ctx context.Context, w http.ResponseWriter, svc service, op string, s *Sim) bool {
	d := f.decide(op)
	if !sleepCtx(ctx, d.latency) {
		return true // client went away
	}
	if d.status == 0 {
		return false
	}
	if d.retryAfter > 0 {
		secs := int((d.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	s.writeError(w, svc, d.status, fmt.Sprintf("Injected fault on %s.", op))
	return true
}

// ParseFaultSpec parses the --fault flag form "PATTERN:key=value,key=value", e.g.
// "compute.server.create:error=0.2,status=503" or "*:latency=20ms" or
// "compute.server.boot:error=1,times=1". Keys: latency, error, status, ratelimit,
// retry-after, conflict, times.
func ParseFaultSpec(spec string) (pattern string, r FaultRule, err error) {
	pattern, kvs, ok := strings.Cut(spec, ":")
	if !ok || pattern == "" || kvs == "" {
		return "", r, fmt.Errorf("fault %q: want PATTERN:key=value[,key=value…], e.g. compute.server.create:error=0.2", spec)
	}
	for _, kv := range strings.Split(kvs, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return "", r, fmt.Errorf("fault %q: %q is not key=value", spec, kv)
		}
		var perr error
		switch k {
		case "latency":
			r.Latency, perr = time.ParseDuration(v)
		case "retry-after":
			r.RetryAfter, perr = time.ParseDuration(v)
		case "error":
			r.ErrorRate, perr = parseRate(v)
		case "ratelimit":
			r.RateLimitRate, perr = parseRate(v)
		case "conflict":
			r.ConflictRate, perr = parseRate(v)
		case "status":
			r.Status, perr = strconv.Atoi(v)
			if perr == nil && (r.Status < 400 || r.Status > 599) {
				perr = fmt.Errorf("want a 4xx or 5xx status")
			}
		case "times":
			r.Times, perr = strconv.Atoi(v)
			if perr == nil && r.Times < 0 {
				perr = fmt.Errorf("want a count >= 0")
			}
		default:
			keys := []string{"latency", "error", "status", "ratelimit", "retry-after", "conflict", "times"}
			sort.Strings(keys)
			return "", r, fmt.Errorf("fault %q: unknown key %q (allowed: %s)", spec, k, strings.Join(keys, ", "))
		}
		if perr != nil {
			return "", r, fmt.Errorf("fault %q: %s=%q: %v", spec, k, v, perr)
		}
	}
	return pattern, r, nil
}

func parseRate(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("want a probability between 0 and 1")
	}
	return f, nil
}
