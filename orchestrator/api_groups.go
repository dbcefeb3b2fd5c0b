package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/auth"
)

// Groups is what the group endpoints need; Fleet implements it on the manifest, the
// state store and the cloud.
type Groups interface {
	// GroupNames lists the manifest's groups in order.
	GroupNames() []string
	// GroupInfo is the manifest's view of a group; a *NotFoundError naming the groups
	// there are when it has none of that name.
	GroupInfo(name string) (GroupInfo, error)
	// GroupStatus is what `remint group show NAME --output json` prints.
	GroupStatus(ctx context.Context, name string) (GroupView, error)
	// GroupPlan is what `remint plan NAME --output json` prints.
	GroupPlan(ctx context.Context, name string, o PlanRequest) (failover.Plan, error)
	// AdoptGroup records the group's existing servers as its slots, holding the group's
	// lease (`remint group adopt NAME`); by names who asked.
	AdoptGroup(ctx context.Context, name string, req AdoptRequest, by string) (AdoptResult, error)
	// ForgetGroup drops the group's records of servers and addresses that no longer
	// exist (req.All: every record), holding the group's lease (`remint group forget`).
	ForgetGroup(ctx context.Context, name string, req ForgetRequest, by string) (ForgetResult, error)
}

// MaxWaitLock bounds how long a request waits for a group's lease (wait_lock_seconds):
// the request holds its connection open meanwhile.
const MaxWaitLock = time.Hour

// AdoptRequest is POST /v1/groups/{name}/adopt: `remint group adopt NAME`.
type AdoptRequest struct {
	// WaitLockSeconds waits up to this long for the group's lease when another process
	// changes the group (--wait-lock); 0 refuses at once.
	WaitLockSeconds int `json:"wait_lock_seconds,omitempty"`
}

// AdoptResult is what adopt recorded: `remint group adopt NAME --output json`.
type AdoptResult struct {
	Group   string             `json:"group"`
	Adopted []failover.Adopted `json:"adopted"`
	Notes   []string           `json:"notes"`
}

// NewAdoptResult is the result of adopting group's servers, with empty lists rather than nil.
func NewAdoptResult(group string, adopted []failover.Adopted, notes []string) AdoptResult {
	if adopted == nil {
		adopted = []failover.Adopted{}
	}
	if notes == nil {
		notes = []string{}
	}
	return AdoptResult{Group: group, Adopted: adopted, Notes: notes}
}

// ForgetRequest is POST /v1/groups/{name}/forget: `remint group forget NAME [--all]`.
type ForgetRequest struct {
	// All drops every record of the group, also of servers and addresses that still exist.
	All             bool `json:"all,omitempty"`
	WaitLockSeconds int  `json:"wait_lock_seconds,omitempty"` // as AdoptRequest's
}

// ForgetResult is what forget dropped: `remint group forget NAME --output json`.
type ForgetResult struct {
	Group     string               `json:"group"`
	Forgotten []failover.Forgotten `json:"forgotten"`
}

// NewForgetResult is the result of forgetting group's records, with an empty list rather than nil.
func NewForgetResult(group string, forgotten []failover.Forgotten) ForgetResult {
	if forgotten == nil {
		forgotten = []failover.Forgotten{}
	}
	return ForgetResult{Group: group, Forgotten: forgotten}
}

// waitLock checks a request's wait_lock_seconds.
// groupChange answers a change of a known group made within the request: the body is a
// Req (its wait_lock_seconds checked by do), the answer do's.
func groupChange[Req, Res any](known func(http.ResponseWriter, *http.Request) (GroupInfo, bool),
	do func(ctx context.Context, group string, req Req, by string) (Res, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info, ok := known(w, r)
		if !ok {
			return
		}
		var req Req
		if err := decodeBody(r, &req); err != nil {
			writeErr(w, err)
			return
		}
		res, err := do(r.Context(), info.Name, req, caller(r))
		reply(w, http.StatusOK, res, err)
	}
}

func waitLock(seconds int) (time.Duration, error) {
	d := time.Duration(seconds) * time.Second
	if seconds < 0 || d > MaxWaitLock {
		return 0, badRequest("wait_lock_seconds %d: want 0 to %d", seconds, int(MaxWaitLock.Seconds()))
	}
	return d, nil
}

// GroupInfo is a group as the manifest declares it.
type GroupInfo struct {
	Name        string `json:"name"`
	Replaceable bool   `json:"replaceable"`
	Count       int    `json:"count"`
	Family      string `json:"family,omitempty"`
	// Pinned is the version or image id the group pins ("" follows the family's latest).
	Pinned string `json:"pinned,omitempty"`
}

// GroupView is a group's status: `remint group show NAME --output json` and GET
// /v1/groups/{name}.
type GroupView struct {
	failover.GroupStatus
	// PendingUpdates is, per server id, what the latest in-place run left pending.
	PendingUpdates map[string]int `json:"pending_updates"`
}

// PlanRequest is what a plan is asked beyond the manifest (`remint plan` flags).
type PlanRequest struct {
	Image string `json:"image,omitempty"` // "", latest or YYYY.MM.N
	Force bool   `json:"force,omitempty"`
}

// GroupSummary is one group of GET /v1/groups: the manifest's view, each slot's server,
// image version, address and health, counts of the slots' health and the latest rollout.
type GroupSummary struct {
	GroupInfo
	Slots         []SlotSummary  `json:"slots"`
	Versions      map[string]int `json:"versions"` // image version → slots on it
	Addresses     []string       `json:"addresses"`
	Health        HealthSummary  `json:"health"`
	LatestRollout string         `json:"latest_rollout,omitempty"`
	RolloutStatus string         `json:"rollout_status,omitempty"`
	// Error says why the group's status could not be read (the other fields are the
	// manifest's then).
	Error string `json:"error,omitempty"`
}

// SlotSummary is one slot in a GroupSummary.
type SlotSummary struct {
	Slot         int    `json:"slot"`
	ServerName   string `json:"server_name,omitempty"`
	Status       string `json:"status,omitempty"`
	ImageVersion string `json:"image_version,omitempty"`
	Address      string `json:"address,omitempty"`
	Health       string `json:"health"`
}

// HealthSummary counts a group's slots by health.
type HealthSummary struct {
	Healthy   int `json:"healthy"`
	Unhealthy int `json:"unhealthy"`
	Unknown   int `json:"unknown"`
	Missing   int `json:"missing"` // the recorded server is gone
	Empty     int `json:"empty"`   // no server yet
}

// Summarize turns a group's status into its summary.
func Summarize(info GroupInfo, v GroupView) GroupSummary {
	s := GroupSummary{GroupInfo: info, Slots: []SlotSummary{}, Versions: map[string]int{}, Addresses: []string{},
		LatestRollout: v.LatestRollout, RolloutStatus: v.RolloutStatus}
	for _, sl := range v.Slots {
		s.Slots = append(s.Slots, SlotSummary{Slot: sl.Slot, ServerName: sl.ServerName, Status: sl.Status,
			ImageVersion: sl.ImageVersion, Address: sl.Address, Health: sl.Health})
		if sl.Address != "" {
			s.Addresses = append(s.Addresses, sl.Address)
		}
		switch {
		case sl.ServerID == "":
			s.Health.Empty++
			continue
		case sl.Status == "MISSING":
			s.Health.Missing++
		case sl.Health == "healthy":
			s.Health.Healthy++
		case strings.HasPrefix(sl.Health, "unhealthy"):
			s.Health.Unhealthy++
		default:
			s.Health.Unknown++
		}
		s.Versions[orDefault(sl.ImageVersion, "unknown")]++
	}
	return s
}

func groupRoutes(g Groups, jobs Jobs) []Route {
	known := func(w http.ResponseWriter, r *http.Request) (GroupInfo, bool) {
		info, err := g.GroupInfo(r.PathValue("name"))
		if err != nil {
			writeErr(w, err)
			return info, false
		}
		return info, true
	}
	// queue answers a request for a job on a known, replaceable group: opts reads the
	// request into the job's options, or refuses it.
	queue := func(kind string, opts func(r *http.Request, info GroupInfo) (json.RawMessage, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			info, ok := known(w, r)
			if !ok {
				return
			}
			if !info.Replaceable {
				writeErr(w, badRequest("group %s is not replaceable (replaceable: false): its servers are patched in place, not %s (POST /v1/jobs with kind inplace)", info.Name, map[string]string{KindRebuild: "rebuilt", KindRollback: "rolled back"}[kind]))
				return
			}
			raw, err := opts(r, info)
			if err != nil {
				writeErr(w, err)
				return
			}
			j, err := jobs.Insert(r.Context(), JobRequest{Kind: kind, Target: info.Name, Options: raw, RequestedBy: caller(r)})
			reply(w, http.StatusAccepted, j, err)
		}
	}
	return []Route{
		{"GET /v1/groups", func(w http.ResponseWriter, r *http.Request) {
			names := g.GroupNames()
			out := make([]GroupSummary, len(names))
			for i, name := range names {
				info, err := g.GroupInfo(name)
				if err != nil {
					writeErr(w, err)
					return
				}
				out[i] = Summarize(info, GroupView{})
			}
			// Each group's status is read from the cloud and probes its servers: a few
			// groups at once. A group whose status cannot be read says why.
			var wg sync.WaitGroup
			sem := make(chan struct{}, 4)
			for i := range out {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					v, err := g.GroupStatus(r.Context(), out[i].Name)
					if err != nil {
						out[i].Error = err.Error()
						return
					}
					out[i] = Summarize(out[i].GroupInfo, v)
				}()
			}
			wg.Wait()
			if r.Context().Err() != nil {
				return // the client went away
			}
			writeJSON(w, http.StatusOK, map[string]any{"groups": out})
		}},
		{"GET /v1/groups/{name}", func(w http.ResponseWriter, r *http.Request) {
			info, ok := known(w, r)
			if !ok {
				return
			}
			v, err := g.GroupStatus(r.Context(), info.Name)
			reply(w, http.StatusOK, v, err)
		}},
		{"GET /v1/groups/{name}/plan", func(w http.ResponseWriter, r *http.Request) {
			info, ok := known(w, r)
			if !ok {
				return
			}
			q := r.URL.Query()
			o := PlanRequest{Image: q.Get("image")}
			if err := checkImageRef(o.Image); err != nil {
				writeErr(w, err)
				return
			}
			if f := q.Get("force"); f != "" {
				b, err := strconv.ParseBool(f)
				if err != nil {
					writeErr(w, badRequest("force %q: want true or false", f))
					return
				}
				o.Force = b
			}
			if !info.Replaceable {
				writeErr(w, badRequest("group %s is not replaceable (replaceable: false): it is patched in place and has no rebuild plan", info.Name))
				return
			}
			plan, err := g.GroupPlan(r.Context(), info.Name, o)
			reply(w, http.StatusOK, plan, err)
		}},
		{"POST /v1/groups/{name}/rebuild", queue(KindRebuild, func(r *http.Request, info GroupInfo) (json.RawMessage, error) {
			var o RebuildOptions
			if err := decodeBody(r, &o); err != nil {
				return nil, err
			}
			if err := checkImageRef(o.Image); err != nil {
				return nil, err
			}
			// What the local rebuild refuses before it changes anything (a stale state, a
			// version the family lacks, servers not adopted) is refused here too, not left
			// to fail the job: the answer, and the CLI's exit status, are the local ones.
			if _, err := g.GroupPlan(r.Context(), info.Name, PlanRequest{Image: o.Image, Force: o.Force}); refusedBeforeChange(err) {
				return nil, err
			}
			return json.Marshal(o)
		})},
		{"POST /v1/groups/{name}/rollback", queue(KindRollback, func(r *http.Request, _ GroupInfo) (json.RawMessage, error) {
			return nil, decodeBody(r, &struct{}{})
		})},
		// Adopt and forget only change the state's records: they run within the request,
		// holding the group's lease as the local commands do.
		{"POST /v1/groups/{name}/adopt", groupChange(known, g.AdoptGroup)},
		{"POST /v1/groups/{name}/forget", groupChange(known, g.ForgetGroup)},
	}
}

// refusedBeforeChange reports whether err (a rebuild plan's) is one the rebuild itself
// stops with before it changes anything and that only the operator can fix: a stale
// state, bad input, an unknown version. Other errors (the cloud did not answer for a
// moment) are left to the job, which reports them.
func refusedBeforeChange(err error) bool {
	var bad BadRequestError
	var fbad failover.BadRequestError
	return errors.Is(err, failover.ErrStaleState) || errors.As(err, &bad) || errors.As(err, &fbad) ||
		errors.Is(err, ErrNotFound) || errors.Is(err, catalog.ErrUnknownVersion)
}

// checkImageRef checks an image argument: "", latest or YYYY.MM.N.
func checkImageRef(image string) error {
	if image == "" || image == "latest" {
		return nil
	}
	if _, err := catalog.ParseVersion(image); err != nil {
		return badRequest("image %q: want latest or a version YYYY.MM.N", image)
	}
	return nil
}

// decodeBody decodes an optional JSON body into v, refusing unknown fields.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return badRequest("request body: %v", err)
	}
	return nil
}

// caller names who asked: the verified token's principal, else "api".
func caller(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok {
		return p.RequestedBy()
	}
	return "api"
}

// NotFoundError is an unknown group, family or version; Known lists what there is.
type NotFoundError struct {
	What  string // group, image family
	Name  string
	Known []string
}

func (e *NotFoundError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("%s %q is not in the manifest, which has none", e.What, e.Name)
	}
	known := append([]string(nil), e.Known...)
	sort.Strings(known)
	plural := e.What + "s"
	if strings.HasSuffix(e.What, "y") {
		plural = strings.TrimSuffix(e.What, "y") + "ies"
	}
	return fmt.Sprintf("%s %q is not in the manifest (%s: %s)", e.What, e.Name, plural, strings.Join(known, ", "))
}

// ErrNotFound: errors.Is holds for every NotFoundError and for the client's 404 answers.
var ErrNotFound = errors.New("not found")

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }
