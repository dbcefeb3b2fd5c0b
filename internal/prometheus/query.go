// Package prometheus is a minimal client of Prometheus's HTTP query API
// (GET /api/v1/query): enough for an alarm gate to evaluate one PromQL expression and
// read its samples. It depends on nothing but the standard library.
package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Client queries one Prometheus (or a compatible server: Thanos, VictoriaMetrics,
// Mimir) at BaseURL, e.g. http://prometheus:9090.
type Client struct {
	BaseURL string
	// HTTP is the client to use; nil means one with a 10s timeout.
	HTTP *http.Client
}

// Sample is one value of an instant query: a series of a vector (Metric its labels)
// or the scalar (no labels).
type Sample struct {
	Metric map[string]string
	Value  float64
	Time   time.Time
}

// String names the series as PromQL writes it: {job="web",code="500"}.
func (s Sample) String() string {
	keys := make([]string, 0, len(s.Metric))
	for k := range s.Metric {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, s.Metric[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Error is an answer with status "error" (a bad query, a timeout in Prometheus).
type Error struct {
	Status    int    // HTTP status
	ErrorType string // errorType: bad_data, timeout, execution…
	Message   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("prometheus: %s (HTTP %d): %s", e.ErrorType, e.Status, e.Message)
}

// Query evaluates expr at time at (zero: now, as Prometheus decides) and returns its
// samples: one per series for a vector, one for a scalar. Matrix and string results
// are refused: a gate needs an instant value.
func (c Client) Query(ctx context.Context, expr string, at time.Time) ([]Sample, error) {
	base, err := url.Parse(c.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q: want http(s)://host[:port][/path]", c.BaseURL)
	}
	q := url.Values{"query": {expr}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	u := base.JoinPath("api/v1/query")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", expr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: read answer: %w", expr, err)
	}
	var ans struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("prometheus query %q: HTTP %d, not a Prometheus answer: %.200s", expr, resp.StatusCode, body)
	}
	if ans.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %w", expr, &Error{Status: resp.StatusCode, ErrorType: ans.ErrorType, Message: ans.Error})
	}
	switch ans.Data.ResultType {
	case "vector":
		var series []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(ans.Data.Result, &series); err != nil {
			return nil, fmt.Errorf("prometheus query %q: vector result: %w", expr, err)
		}
		out := make([]Sample, 0, len(series))
		for _, s := range series {
			v, t, err := point(s.Value)
			if err != nil {
				return nil, fmt.Errorf("prometheus query %q: %w", expr, err)
			}
			out = append(out, Sample{Metric: s.Metric, Value: v, Time: t})
		}
		return out, nil
	case "scalar":
		var p [2]any
		if err := json.Unmarshal(ans.Data.Result, &p); err != nil {
			return nil, fmt.Errorf("prometheus query %q: scalar result: %w", expr, err)
		}
		v, t, err := point(p)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %q: %w", expr, err)
		}
		return []Sample{{Value: v, Time: t}}, nil
	}
	return nil, fmt.Errorf("prometheus query %q: result type %q: want an instant vector or a scalar", expr, ans.Data.ResultType)
}

// point reads [<unix seconds>, "<value>"] (values are strings: "NaN", "+Inf" too).
func point(p [2]any) (float64, time.Time, error) {
	ts, ok := p[0].(float64)
	if !ok {
		return 0, time.Time{}, errors.New("sample without a timestamp")
	}
	s, ok := p[1].(string)
	if !ok {
		return 0, time.Time{}, errors.New("sample value is not a string")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sample value %q: %w", s, err)
	}
	sec, frac := math.Modf(ts)
	return v, time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
