package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client is Jobs through a daemon's API (`remint job … --server URL`).
type Client struct {
	Base string // e.g. http://127.0.0.1:8440
	HTTP *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("remint daemon %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("remint daemon %s: %s %s: %w", c.Base, method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		err := fmt.Errorf("remint daemon %s: %s", c.Base, e.Error)
		switch {
		case resp.StatusCode == http.StatusConflict && e.Job != nil:
			return &DuplicateError{Existing: *e.Job}
		case resp.StatusCode == http.StatusBadRequest:
			return BadRequestError{err}
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrJobNotFound, err)
		}
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("remint daemon %s: %s %s: decode answer: %w", c.Base, method, path, err)
	}
	return nil
}

func (c *Client) Insert(ctx context.Context, req JobRequest) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, "/v1/jobs", req, &j)
}

func (c *Client) Get(ctx context.Context, id int64) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodGet, "/v1/jobs/"+strconv.FormatInt(id, 10), nil, &j)
}

func (c *Client) List(ctx context.Context, o ListOptions) ([]Job, error) {
	v := url.Values{}
	if o.Status != "" {
		v.Set("status", o.Status)
	}
	if o.Limit > 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Target != "" {
		v.Set("target", o.Target)
	}
	for _, k := range o.Kinds {
		v.Add("kind", k)
	}
	if o.BeforeID > 0 {
		v.Set("before", strconv.FormatInt(o.BeforeID, 10))
	}
	var out struct {
		Jobs []Job `json:"jobs"`
	}
	path := "/v1/jobs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	return out.Jobs, c.do(ctx, http.MethodGet, path, nil, &out)
}

func (c *Client) Cancel(ctx context.Context, id int64) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, "/v1/jobs/"+strconv.FormatInt(id, 10)+"/cancel", nil, &j)
}

func (c *Client) Retry(ctx context.Context, id int64) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, "/v1/jobs/"+strconv.FormatInt(id, 10)+"/retry", nil, &j)
}

// Events returns job id's events after the first after ones (GET /v1/jobs/{id}/events).
func (c *Client) Events(ctx context.Context, id int64, after int) (JobEvents, error) {
	var out JobEvents
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs/%d/events?after=%d", id, after), nil, &out)
}
