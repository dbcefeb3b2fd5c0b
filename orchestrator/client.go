package orchestrator

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/store"
)

// Client is Jobs through a daemon's API (`remint job … --server URL`).
type Client struct {
	Base string // e.g. http://127.0.0.1:8440
	// Token is the bearer token sent with every request (remint token create); never
	// printed or put in an error.
	Token string
	HTTP  *http.Client
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
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var unknownCA x509.UnknownAuthorityError
		if errors.As(err, &unknownCA) {
			return fmt.Errorf("remint daemon %s: %w (give the CA that signed its certificate with --ca-cert or $REMINT_CA_CERT)", c.Base, err)
		}
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
		case resp.StatusCode == http.StatusUnauthorized && c.Token == "":
			return fmt.Errorf("%w (set $REMINT_TOKEN or --token; remint token create makes one)", err)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return err
		case resp.StatusCode == http.StatusConflict && e.Code == CodeStaleState && e.Group != "":
			// The daemon's *failover.StaleStateError again: the local command's class
			// (errors.Is ErrStaleState) and message, word for word (as group show, whose
			// answer is the status, says it).
			return &failover.StaleStateError{Group: e.Group, Missing: e.Missing}
		case resp.StatusCode == http.StatusConflict && e.Code == CodeManifestSchedule:
			return codedError{err, ErrManifestSchedule}
		case resp.StatusCode == http.StatusConflict && e.Job != nil:
			return &DuplicateError{Existing: *e.Job}
		case resp.StatusCode == http.StatusBadRequest:
			return BadRequestError{err}
		case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/v1/jobs"):
			return fmt.Errorf("%w: %w", ErrJobNotFound, err)
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("remint daemon %s: %s %s: decode answer: %w", c.Base, method, path, err)
	}
	return nil
}

// codedError is an error answer whose code names a sentinel: errors.Is(err, is) holds,
// the message is the daemon's.
type codedError struct{ err, is error }

func (e codedError) Error() string   { return e.err.Error() }
func (e codedError) Unwrap() []error { return []error{e.err, e.is} }

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

// Groups lists the groups with their status summaries (GET /v1/groups).
func (c *Client) Groups(ctx context.Context) ([]GroupSummary, error) {
	var out struct {
		Groups []GroupSummary `json:"groups"`
	}
	return out.Groups, c.do(ctx, http.MethodGet, "/v1/groups", nil, &out)
}

// Group is what `remint group show NAME --output json` prints (GET /v1/groups/{name}).
func (c *Client) Group(ctx context.Context, name string) (GroupView, error) {
	var out GroupView
	return out, c.do(ctx, http.MethodGet, "/v1/groups/"+url.PathEscape(name), nil, &out)
}

// Plan is the group's rebuild plan (GET /v1/groups/{name}/plan).
func (c *Client) Plan(ctx context.Context, name string, o PlanRequest) (failover.Plan, error) {
	v := url.Values{}
	if o.Image != "" {
		v.Set("image", o.Image)
	}
	if o.Force {
		v.Set("force", "true")
	}
	path := "/v1/groups/" + url.PathEscape(name) + "/plan"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out failover.Plan
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Rebuild queues a rebuild job of the group (POST /v1/groups/{name}/rebuild).
func (c *Client) Rebuild(ctx context.Context, name string, o RebuildOptions) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(name)+"/rebuild", o, &j)
}

// Rollback queues a rollback job of the group (POST /v1/groups/{name}/rollback).
func (c *Client) Rollback(ctx context.Context, name string) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(name)+"/rollback", struct{}{}, &j)
}

// AdoptGroup records the group's existing servers as its slots (POST
// /v1/groups/{name}/adopt).
func (c *Client) AdoptGroup(ctx context.Context, name string, req AdoptRequest) (AdoptResult, error) {
	var out AdoptResult
	return out, c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(name)+"/adopt", req, &out)
}

// ForgetGroup drops the group's records of what no longer exists (POST
// /v1/groups/{name}/forget).
func (c *Client) ForgetGroup(ctx context.Context, name string, req ForgetRequest) (ForgetResult, error) {
	var out ForgetResult
	return out, c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(name)+"/forget", req, &out)
}

// Images lists catalog versions, of one family or ("") of all (GET /v1/images).
func (c *Client) Images(ctx context.Context, family string) ([]ImageView, error) {
	path := "/v1/images"
	if family != "" {
		path += "?family=" + url.QueryEscape(family)
	}
	var out struct {
		Images []ImageView `json:"images"`
	}
	return out.Images, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Image shows one version, "latest" the active one (GET /v1/images/{family}/{version}).
func (c *Client) Image(ctx context.Context, family, version string) (ImageView, error) {
	var out ImageView
	return out, c.do(ctx, http.MethodGet, "/v1/images/"+url.PathEscape(family)+"/"+url.PathEscape(version), nil, &out)
}

// DiffImages compares two versions' packages (GET /v1/images/{family}/diff).
func (c *Client) DiffImages(ctx context.Context, family, from, to string) (ImageDiff, error) {
	var out ImageDiff
	q := url.Values{"from": {from}, "to": {to}}
	return out, c.do(ctx, http.MethodGet, "/v1/images/"+url.PathEscape(family)+"/diff?"+q.Encode(), nil, &out)
}

// BuildImage queues a build-image job (POST /v1/images/{family}/build).
func (c *Client) BuildImage(ctx context.Context, family string, o BuildImageOptions) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, "/v1/images/"+url.PathEscape(family)+"/build", o, &j)
}

// RegisterImage makes an existing image the family's active version (POST
// /v1/images/{family}/register).
func (c *Client) RegisterImage(ctx context.Context, family string, req RegisterRequest) (ImageChange, error) {
	var out ImageChange
	return out, c.do(ctx, http.MethodPost, "/v1/images/"+url.PathEscape(family)+"/register", req, &out)
}

// RetireImages enforces the family's retention (POST /v1/images/{family}/retire).
func (c *Client) RetireImages(ctx context.Context, family string, req RetireRequest) (ImageChange, error) {
	var out ImageChange
	return out, c.do(ctx, http.MethodPost, "/v1/images/"+url.PathEscape(family)+"/retire", req, &out)
}

// RevokeImage revokes a version (POST /v1/images/{family}/{version}/revoke).
func (c *Client) RevokeImage(ctx context.Context, family, version, reason string) (ImageChange, error) {
	var out ImageChange
	return out, c.do(ctx, http.MethodPost, "/v1/images/"+url.PathEscape(family)+"/"+url.PathEscape(version)+"/revoke", RevokeRequest{Reason: reason}, &out)
}

// PromoteImage promotes a candidate version (POST /v1/images/{family}/{version}/promote).
func (c *Client) PromoteImage(ctx context.Context, family, version string) (ImageChange, error) {
	var out ImageChange
	return out, c.do(ctx, http.MethodPost, "/v1/images/"+url.PathEscape(family)+"/"+url.PathEscape(version)+"/promote", struct{}{}, &out)
}

// scheduleErr turns the job-flavoured not-found of do into the schedule one.
func scheduleErr(err error) error {
	if !errors.Is(err, ErrJobNotFound) && !errors.Is(err, ErrNotFound) {
		return err
	}
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := m.Unwrap(); len(errs) == 2 {
			return fmt.Errorf("%w: %w", store.ErrScheduleNotFound, errs[1])
		}
	}
	return err
}

// ListSchedules lists the daemon's schedules (manifest and run-time) on target ("": all).
func (c *Client) ListSchedules(ctx context.Context, target string) ([]ScheduleView, error) {
	path := "/v1/schedules"
	if target != "" {
		path += "?" + url.Values{"target": {target}}.Encode()
	}
	var out struct {
		Schedules []ScheduleView `json:"schedules"`
	}
	return out.Schedules, scheduleErr(c.do(ctx, http.MethodGet, path, nil, &out))
}

// GetSchedule returns schedule ref (an id or a name).
func (c *Client) GetSchedule(ctx context.Context, ref string) (ScheduleView, error) {
	var v ScheduleView
	return v, scheduleErr(c.do(ctx, http.MethodGet, "/v1/schedules/"+url.PathEscape(ref), nil, &v))
}

// CreateSchedule creates a run-time schedule.
func (c *Client) CreateSchedule(ctx context.Context, req ScheduleRequest) (ScheduleView, error) {
	var v ScheduleView
	return v, scheduleErr(c.do(ctx, http.MethodPost, "/v1/schedules", req, &v))
}

// UpdateSchedule replaces schedule ref.
func (c *Client) UpdateSchedule(ctx context.Context, ref string, req ScheduleRequest) (ScheduleView, error) {
	var v ScheduleView
	return v, scheduleErr(c.do(ctx, http.MethodPut, "/v1/schedules/"+url.PathEscape(ref), req, &v))
}

// DeleteSchedule deletes schedule ref.
func (c *Client) DeleteSchedule(ctx context.Context, ref string) error {
	var out map[string]string
	return scheduleErr(c.do(ctx, http.MethodDelete, "/v1/schedules/"+url.PathEscape(ref), nil, &out))
}

// SetScheduleEnabled enables or disables schedule ref.
func (c *Client) SetScheduleEnabled(ctx context.Context, ref string, enabled bool) (ScheduleView, error) {
	action := "/disable"
	if enabled {
		action = "/enable"
	}
	var v ScheduleView
	return v, scheduleErr(c.do(ctx, http.MethodPost, "/v1/schedules/"+url.PathEscape(ref)+action, nil, &v))
}

// ScheduleHistory lists the runs the daemon handled, of schedule name ("": all).
func (c *Client) ScheduleHistory(ctx context.Context, name string) ([]ScheduleRunView, error) {
	path := "/v1/schedule-runs"
	if name != "" {
		path += "?" + url.Values{"schedule": {name}}.Encode()
	}
	var out struct {
		Runs []ScheduleRunView `json:"runs"`
	}
	return out.Runs, scheduleErr(c.do(ctx, http.MethodGet, path, nil, &out))
}

// RRuleNext asks the daemon for the next runs of a rule.
func (c *Client) RRuleNext(ctx context.Context, req RRuleNextRequest) ([]RunView, error) {
	var out struct {
		Runs []RunView `json:"runs"`
	}
	return out.Runs, c.do(ctx, http.MethodPost, "/v1/rrule/next", req, &out)
}
