package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Sentinel errors. Test with errors.Is, or with the Is* helpers below, which also
// understand raw gophercloud errors.
var (
	// ErrNotFound: the resource does not exist (HTTP 404, or no match for a name).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the resource is in a state that does not allow the change (HTTP 409),
	// or a guarded update lost a race (HTTP 412, see ErrPreconditionFailed).
	ErrConflict = errors.New("conflict")
	// ErrPreconditionFailed: an If-Match revision was stale (HTTP 412). It is also
	// ErrConflict. Never retried: the caller re-reads and decides again.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrTerminal marks failures that no retry will fix: a server in ERROR, a killed
	// image, a request the cloud refuses (400/401/403).
	ErrTerminal = errors.New("terminal failure")
	// ErrAmbiguous: a name matched more than one resource.
	ErrAmbiguous = errors.New("ambiguous name")
)

// APIError is an error answer of an OpenStack service, with the message from its body.
// It wraps the gophercloud error it was made from.
type APIError struct {
	Method     string
	URL        string
	Status     int
	Message    string // the service's own message, "" when the body had none
	RequestID  string
	RetryAfter time.Duration // from Retry-After on 429/503; 0 when absent
	Err        error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: HTTP %d", e.Method, redactURL(e.URL), e.Status)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// Unwrap returns the gophercloud error.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and friends work on the status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict || e.Status == http.StatusPreconditionFailed
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrTerminal:
		return terminalStatus(e.Status)
	}
	return false
}

func terminalStatus(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// terminalError marks err as terminal. It is errors.Join(err, ErrTerminal) in
// behaviour (both are reachable with errors.Is/As) but keeps err's one-line message,
// which errors.Join would extend with "\nterminal failure".
type terminalError struct{ err error }

func (e terminalError) Error() string   { return e.err.Error() }
func (e terminalError) Unwrap() []error { return []error{e.err, ErrTerminal} }

// Terminal marks err as a failure that must not be retried. Nil stays nil.
func Terminal(err error) error {
	if err == nil || errors.Is(err, ErrTerminal) {
		return err
	}
	return terminalError{err}
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) || gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return true
	}
	var rnf gophercloud.ErrResourceNotFound
	return errors.As(err, &rnf)
}

// IsConflict reports a 409 Conflict or a 412 Precondition Failed.
func IsConflict(err error) bool {
	return err != nil && (errors.Is(err, ErrConflict) ||
		gophercloud.ResponseCodeIs(err, http.StatusConflict) ||
		gophercloud.ResponseCodeIs(err, http.StatusPreconditionFailed))
}

// IsPreconditionFailed reports a 412: an If-Match revision was stale.
func IsPreconditionFailed(err error) bool {
	return err != nil && (errors.Is(err, ErrPreconditionFailed) ||
		gophercloud.ResponseCodeIs(err, http.StatusPreconditionFailed))
}

// IsTerminal reports a failure no retry will fix.
func IsTerminal(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrTerminal) {
		return true
	}
	return terminalStatus(statusOf(err))
}

// IsRetryable reports a failure worth retrying: 429, 500, 502, 503, 504, and network
// errors (refused, reset, timed out, cut short). Context cancellation is never retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrTerminal) {
		return false
	}
	switch statusOf(err) {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return isNetworkError(err)
	}
	return false
}

// notSent reports errors after which the request surely did not take effect, so even a
// non-idempotent create may be sent again: 429 (refused by the rate limiter before
// any work), 503 (service or its load balancer refused it before any work), and
// failures to connect at all (the request never left).
func notSent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch statusOf(err) {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case 0:
		return isDialError(err)
	}
	return false
}

func isNetworkError(err error) bool {
	if isDialError(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && !errors.Is(err, context.Canceled)
}

func isDialError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// statusOf returns the HTTP status of an OpenStack error answer, 0 when err is not one.
func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	if uc, ok := unexpectedCode(err); ok {
		return uc.Actual
	}
	return 0
}

// unexpectedCode finds gophercloud's response-code error in err, including inside
// ErrUnableToReauthenticate, which does not unwrap.
func unexpectedCode(err error) (gophercloud.ErrUnexpectedResponseCode, bool) {
	var uc gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &uc) {
		return uc, true
	}
	var puc *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &puc) && puc != nil {
		return *puc, true
	}
	var ur *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &ur) && ur != nil {
		if uc, ok := unexpectedCode(ur.ErrReauth); ok {
			return uc, true
		}
		return unexpectedCode(ur.ErrOriginal)
	}
	var urv gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &urv) {
		if uc, ok := unexpectedCode(urv.ErrReauth); ok {
			return uc, true
		}
		return unexpectedCode(urv.ErrOriginal)
	}
	return uc, false
}

// classify turns a gophercloud error answer into an *APIError (carrying the service's
// message, request id and Retry-After) and marks terminal statuses. Other errors pass
// through unchanged. now is the time Retry-After dates are measured from.
func classify(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return err
	}
	uc, ok := unexpectedCode(err)
	if !ok {
		return err
	}
	out := &APIError{
		Method:  uc.Method,
		URL:     uc.URL,
		Status:  uc.Actual,
		Message: serviceMessage(uc.Body),
		Err:     err,
	}
	if h := uc.ResponseHeader; h != nil {
		out.RequestID = h.Get("X-Openstack-Request-Id")
		if out.RequestID == "" {
			out.RequestID = h.Get("X-Compute-Request-Id")
		}
		out.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	}
	if terminalStatus(out.Status) {
		return Terminal(out)
	}
	return out
}

// serviceMessage extracts the human message from an OpenStack error body:
// Nova {"itemNotFound": {"code", "message"}}, Glance {"message", "code", "title"},
// Neutron {"NeutronError": {"type", "message", "detail"}}, Keystone {"error": {…}}.
func serviceMessage(body []byte) string {
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) == 0 {
		return ""
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return cleanMessage(truncate(string(body), 300))
	}
	if m := stringField(top, "message"); m != "" {
		return cleanMessage(m)
	}
	if m := stringField(top, "faultstring"); m != "" {
		return cleanMessage(m)
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var inner map[string]json.RawMessage
		if json.Unmarshal(top[k], &inner) != nil {
			continue
		}
		m := stringField(inner, "message")
		if m == "" {
			continue
		}
		if typ := stringField(inner, "type"); typ != "" {
			return typ + ": " + cleanMessage(m)
		}
		return cleanMessage(m)
	}
	return ""
}

func stringField(m map[string]json.RawMessage, key string) string {
	raw, ok := m[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// cleanMessage drops the HTML line breaks Glance puts in its messages.
func cleanMessage(s string) string {
	s = strings.ReplaceAll(s, "<br />", " ")
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// retryAfterOf returns the Retry-After an error answer carried, 0 when none.
func retryAfterOf(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// redactURL drops userinfo from a URL before it goes into a message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = nil
	return u.String()
}
