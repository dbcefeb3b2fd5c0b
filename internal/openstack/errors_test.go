package openstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServiceMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"nova", `{"itemNotFound": {"code": 404, "message": "Instance 0000 could not be found."}}`, "Instance 0000 could not be found."},
		{"nova bad request", `{"badRequest": {"code": 400, "message": "Can not find requested image"}}`, "Can not find requested image"},
		{"glance", `{"message": "No image found with ID 0000<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}`, "No image found with ID 0000"},
		{"neutron", `{"NeutronError": {"type": "RevisionNumberConstraintFailed", "message": "Constrained to 0, but current revision is 1", "detail": ""}}`,
			"RevisionNumberConstraintFailed: Constrained to 0, but current revision is 1"},
		{"keystone", `{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}`,
			"The request you have made requires authentication."},
		{"html", `<html><body>502 Bad Gateway</body></html>`, "<html><body>502 Bad Gateway</body></html>"},
		{"empty", ``, ""},
		{"json without message", `{"foo": {"bar": 1}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, serviceMessage([]byte(tt.body)))
		})
	}
}

func responseErr(status int, body string, header http.Header) error {
	return gophercloud.ErrUnexpectedResponseCode{
		Method: "GET", URL: "http://cloud/compute/v2.1/servers/x", Expected: []int{200},
		Actual: status, Body: []byte(body), ResponseHeader: header,
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	refused := dialClosedPort(t)
	tests := []struct {
		name                                       string
		err                                        error
		notFound, conflict, precondition, terminal bool
		retryable, notSentBefore                   bool
	}{
		{name: "404", err: responseErr(404, `{}`, nil), notFound: true},
		{name: "409", err: responseErr(409, `{}`, nil), conflict: true},
		{name: "412", err: responseErr(412, `{}`, nil), conflict: true, precondition: true},
		{name: "400", err: responseErr(400, `{}`, nil), terminal: true},
		{name: "401", err: responseErr(401, `{}`, nil), terminal: true},
		{name: "403", err: responseErr(403, `{}`, nil), terminal: true},
		{name: "429", err: responseErr(429, `{}`, nil), retryable: true, notSentBefore: true},
		{name: "500", err: responseErr(500, `{}`, nil), retryable: true},
		{name: "502", err: responseErr(502, `{}`, nil), retryable: true},
		{name: "503", err: responseErr(503, `{}`, nil), retryable: true, notSentBefore: true},
		{name: "504", err: responseErr(504, `{}`, nil), retryable: true},
		{name: "wrapped 503", err: fmt.Errorf("get server x: %w", responseErr(503, `{}`, nil)), retryable: true, notSentBefore: true},
		{name: "after reauth 404", err: &gophercloud.ErrErrorAfterReauthentication{ErrOriginal: responseErr(404, `{}`, nil)}, notFound: true},
		{name: "reauth refused", err: &gophercloud.ErrUnableToReauthenticate{ErrOriginal: responseErr(401, `{}`, nil), ErrReauth: responseErr(401, `{}`, nil)}, terminal: true},
		{name: "connection refused", err: refused, retryable: true, notSentBefore: true},
		{name: "timeout", err: &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, retryable: true},
		{name: "context canceled", err: context.Canceled},
		{name: "deadline", err: fmt.Errorf("get: %w", context.DeadlineExceeded)},
		{name: "terminal-marked 500", err: Terminal(responseErr(500, `{}`, nil)), terminal: true},
		{name: "sentinel not found", err: fmt.Errorf("network x: %w", ErrNotFound), notFound: true},
		{name: "plain", err: errors.New("boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, e := range []error{tt.err, classify(tt.err, time.Now())} {
				assert.Equal(t, tt.notFound, IsNotFound(e), "IsNotFound(%v)", e)
				assert.Equal(t, tt.conflict, IsConflict(e), "IsConflict(%v)", e)
				assert.Equal(t, tt.precondition, IsPreconditionFailed(e), "IsPreconditionFailed(%v)", e)
				assert.Equal(t, tt.terminal, IsTerminal(e), "IsTerminal(%v)", e)
				assert.Equal(t, tt.retryable, IsRetryable(e), "IsRetryable(%v)", e)
				assert.Equal(t, tt.notSentBefore, notSent(e), "notSent(%v)", e)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// dialClosedPort returns the real error of connecting to a port nobody listens on.
func dialClosedPort(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	resp, err := http.Get("http://" + addr + "/")
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err)
	return err
}

func TestClassifyKeepsMessageRequestIDAndRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("X-Openstack-Request-Id", "req-abc")
	h.Set("Retry-After", "3")
	err := classify(responseErr(503, `{"computeFault": {"code": 503, "message": "Injected fault."}}`, h), now)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 503, ae.Status)
	assert.Equal(t, "Injected fault.", ae.Message)
	assert.Equal(t, "req-abc", ae.RequestID)
	assert.Equal(t, 3*time.Second, ae.RetryAfter)
	assert.Equal(t, "GET http://cloud/compute/v2.1/servers/x: HTTP 503: Injected fault. (request req-abc)", err.Error())

	h.Set("Retry-After", now.Add(7*time.Second).Format(http.TimeFormat))
	assert.Equal(t, 7*time.Second, retryAfterOf(classify(responseErr(429, `{}`, h), now)))

	// A 403 is marked terminal, keeps a one-line message and stays an *APIError.
	err = classify(responseErr(403, `{"message": "Attribute id is read-only.", "code": "403 Forbidden", "title": "Forbidden"}`, nil), now)
	assert.True(t, errors.Is(err, ErrTerminal))
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "GET http://cloud/compute/v2.1/servers/x: HTTP 403: Attribute id is read-only.", err.Error())
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{" 10 ", 10 * time.Second},
		{"-1", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.in, now), "Retry-After %q", tt.in)
	}
}
