package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// Fleet is Groups and Images on the manifest, the state store and the cloud: what the
// group and image endpoints of `remint serve` read and change.
type Fleet struct {
	Manifest *manifest.Manifest
	Store    *store.Store
	// Deps wires a group's use cases for reading (status, plan: no lease is taken);
	// records says only its records are read (status), so groups of pets are welcome.
	Deps func(ctx context.Context, group string, records bool) (failover.Deps, error)
	// Change wires a group's use cases for a change the API makes within the request
	// (adopt, forget: the state's records only, so groups of pets are welcome and no
	// health probe is needed): the group's lease is held as command, waiting up to
	// wait for it.
	Change func(ctx context.Context, group, command string, wait time.Duration) (failover.Deps, error)
	// Cloud is the connection to the cloud (the image catalog lives in Glance).
	Cloud func(ctx context.Context) (*openstack.Client, error)
	Now   func() time.Time
	// Log records the changes made (nil: not logged beyond the API's write log).
	Log *slog.Logger
}

var (
	_ Groups = (*Fleet)(nil)
	_ Images = (*Fleet)(nil)
)

func (f *Fleet) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fleet) GroupNames() []string { return f.Manifest.GroupNames() }

func (f *Fleet) GroupInfo(name string) (GroupInfo, error) {
	g, ok := f.Manifest.Groups[name]
	if !ok {
		return GroupInfo{}, &NotFoundError{What: "group", Name: name, Known: f.Manifest.GroupNames()}
	}
	info := GroupInfo{Name: name, Replaceable: g.IsReplaceable(), Count: g.Count, Family: g.Image.Family}
	switch {
	case g.Image.Version != "":
		info.Pinned = g.Image.Version
	case g.Image.ID != "":
		info.Pinned = g.Image.ID
	}
	return info, nil
}

func (f *Fleet) GroupStatus(ctx context.Context, name string) (GroupView, error) {
	if _, err := f.GroupInfo(name); err != nil {
		return GroupView{}, err
	}
	deps, err := f.Deps(ctx, name, true)
	if err != nil {
		return GroupView{}, err
	}
	ex, err := failover.NewExecutor(deps.Options)
	if err != nil {
		return GroupView{}, err
	}
	st, err := ex.Status(ctx)
	if err != nil {
		return GroupView{}, err
	}
	pending, err := inplace.PendingUpdates(ctx, f.Store, name)
	if err != nil {
		return GroupView{}, err
	}
	return GroupView{GroupStatus: st, PendingUpdates: pending}, nil
}

func (f *Fleet) GroupPlan(ctx context.Context, name string, o PlanRequest) (failover.Plan, error) {
	if _, err := f.GroupInfo(name); err != nil {
		return failover.Plan{}, err
	}
	deps, err := f.Deps(ctx, name, false)
	if err != nil {
		return failover.Plan{}, err
	}
	res, err := failover.Rebuild(ctx, deps, failover.RebuildRequest{Image: o.Image, Force: o.Force, DryRun: true})
	if err != nil {
		return failover.Plan{}, err
	}
	return *res.Plan, nil
}

// leaseHeld says how to get past a group's lease another process holds: the same words
// as the local commands'.
func leaseHeld(err error) error {
	if errors.Is(err, store.ErrLeaseHeld) {
		return fmt.Errorf("%w; wait with --wait-lock 10m or retry later", err)
	}
	return err
}

func (f *Fleet) log(msg string, args ...any) {
	if f.Log != nil {
		f.Log.Info(msg, args...)
	}
}

func (f *Fleet) AdoptGroup(ctx context.Context, name string, req AdoptRequest, by string) (AdoptResult, error) {
	if _, err := f.GroupInfo(name); err != nil {
		return AdoptResult{}, err
	}
	wait, err := waitLock(req.WaitLockSeconds)
	if err != nil {
		return AdoptResult{}, err
	}
	deps, err := f.Change(ctx, name, fmt.Sprintf("remint group adopt %s (API, %s)", name, by), wait)
	if err != nil {
		return AdoptResult{}, err
	}
	adopted, notes, err := failover.AdoptGroup(ctx, deps)
	if err != nil {
		return AdoptResult{}, leaseHeld(err)
	}
	f.log("group adopted", "group", name, "slots", len(adopted), "by", by)
	return NewAdoptResult(name, adopted, notes), nil
}

func (f *Fleet) ForgetGroup(ctx context.Context, name string, req ForgetRequest, by string) (ForgetResult, error) {
	if _, err := f.GroupInfo(name); err != nil {
		return ForgetResult{}, err
	}
	// Like the local command, forget refuses a group that is never rebuilt: its records
	// are the servers it patches in place.
	if _, err := failover.SpecFromGroup(f.Manifest.Groups[name]); err != nil {
		return ForgetResult{}, BadRequestError{err}
	}
	wait, err := waitLock(req.WaitLockSeconds)
	if err != nil {
		return ForgetResult{}, err
	}
	deps, err := f.Change(ctx, name, fmt.Sprintf("remint group forget %s (API, %s)", name, by), wait)
	if err != nil {
		return ForgetResult{}, err
	}
	forgotten, err := failover.ForgetGroup(ctx, deps, req.All)
	if err != nil {
		if len(forgotten) > 0 {
			// The answer is the error alone: it says what was dropped before.
			done := make([]string, len(forgotten))
			for i, x := range forgotten {
				done[i] = x.String()
			}
			err = fmt.Errorf("%w (dropped before it failed: %s)", err, strings.Join(done, "; "))
		}
		return ForgetResult{}, leaseHeld(err)
	}
	if len(forgotten) > 0 {
		f.log("state records forgotten", "group", name, "count", len(forgotten), "all", req.All, "by", by)
	}
	return NewForgetResult(name, forgotten), nil
}

func (f *Fleet) FamilyNames() []string { return f.Manifest.FamilyNames() }

func (f *Fleet) CheckFamily(family string) error {
	if _, ok := f.Manifest.Families[family]; !ok {
		return &NotFoundError{What: "image family", Name: family, Known: f.Manifest.FamilyNames()}
	}
	return nil
}

func (f *Fleet) catalog(ctx context.Context, family string) (*catalog.Catalog, *openstack.Client, error) {
	if err := f.CheckFamily(family); err != nil {
		return nil, nil, err
	}
	cl, err := f.Cloud(ctx)
	if err != nil {
		return nil, nil, err
	}
	return catalog.New(cl), cl, nil
}

func (f *Fleet) ListImages(ctx context.Context, family string) ([]ImageView, error) {
	cat, _, err := f.catalog(ctx, family)
	if err != nil {
		return nil, err
	}
	entries, err := cat.List(ctx, family)
	if err != nil {
		return nil, err
	}
	out := make([]ImageView, 0, len(entries))
	for _, e := range entries {
		out = append(out, ViewImage(e))
	}
	return out, nil
}

// entry finds version ("latest": the active one) of family.
func entry(ctx context.Context, cat *catalog.Catalog, family, version string) (catalog.Entry, error) {
	if version == "latest" {
		e, err := cat.Latest(ctx, family)
		if errors.Is(err, catalog.ErrNoActiveImage) {
			return e, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return e, err
	}
	v, err := catalog.ParseVersion(version)
	if err != nil {
		return catalog.Entry{}, badRequest("version %q: want latest or YYYY.MM.N", version)
	}
	return cat.Version(ctx, family, v)
}

func (f *Fleet) ShowImage(ctx context.Context, family, version string) (ImageView, error) {
	cat, _, err := f.catalog(ctx, family)
	if err != nil {
		return ImageView{}, err
	}
	e, err := entry(ctx, cat, family, version)
	if err != nil {
		return ImageView{}, err
	}
	return ViewImage(e), nil
}

func (f *Fleet) DiffImages(ctx context.Context, family, from, to string) (ImageDiff, error) {
	cat, _, err := f.catalog(ctx, family)
	if err != nil {
		return ImageDiff{}, err
	}
	d := ImageDiff{Family: family, Changes: []debian.Change{}}
	var lists [2][]debian.Package
	for i, ref := range []string{from, to} {
		e, err := entry(ctx, cat, family, ref)
		if err != nil {
			return d, err
		}
		if lists[i], err = catalog.Packages(e); err != nil {
			if errors.Is(err, catalog.ErrNoPackageList) {
				return d, BadRequestError{err}
			}
			return d, err
		}
		if i == 0 {
			d.From = e.Version.String()
		} else {
			d.To = e.Version.String()
		}
	}
	if changes := debian.Diff(lists[0], lists[1]); changes != nil {
		d.Changes = changes
	}
	return d, nil
}

func (f *Fleet) RegisterImage(ctx context.Context, family string, req RegisterRequest) (ImageChange, error) {
	cat, cl, err := f.catalog(ctx, family)
	if err != nil {
		return ImageChange{}, err
	}
	ref := req.Image
	if len(req.PackerManifest) > 0 {
		if ref, err = catalog.PackerArtifact(req.PackerManifest); err != nil {
			return ImageChange{}, BadRequestError{fmt.Errorf("packer_manifest: %w", err)}
		}
	}
	img, err := catalog.FindImage(ctx, cl, ref)
	if err != nil {
		if errors.Is(err, catalog.ErrImageNotFound) || errors.Is(err, catalog.ErrAmbiguousImage) {
			return ImageChange{}, BadRequestError{err}
		}
		return ImageChange{}, err
	}
	if img.Status != "active" {
		return ImageChange{}, badRequest("register %s in %s: its Glance status is %s; only an active image can be registered", img.ID, family, img.Status)
	}
	if in := img.Properties[catalog.PropFamily]; in != "" {
		// Already a catalog version (and not merely a snapshot carrying its base's
		// properties, which Register takes): a conflict, not a failure.
		if entries, err := cat.List(ctx, in); err == nil {
			for _, e := range entries {
				if e.Image.ID == img.ID {
					return ImageChange{}, &ConflictError{fmt.Errorf("image %s is in the catalog already, as %s %s (%s)", img.ID, e.Family, e.Version, e.State)}
				}
			}
		}
	}
	e, notes, err := cat.Register(ctx, family, img.ID, f.now())
	return imageChange(family, notes, e), err
}

// imageChange is the answer to a change of family's catalog: what was done (notes, never
// null) and the version's entry after it, when there is one.
func imageChange(family string, notes []string, e catalog.Entry) ImageChange {
	ch := ImageChange{Family: family, Notes: notes}
	if ch.Notes == nil {
		ch.Notes = []string{}
	}
	if e.Image.ID != "" {
		v := ViewImage(e)
		ch.Entry = &v
	}
	return ch
}

func (f *Fleet) RevokeImage(ctx context.Context, family, version, reason string) (ImageChange, error) {
	cat, _, err := f.catalog(ctx, family)
	if err != nil {
		return ImageChange{}, err
	}
	e, err := entry(ctx, cat, family, version)
	if err != nil {
		return ImageChange{}, err
	}
	if !catalog.CanTransition(e.State, catalog.Revoked) {
		return ImageChange{}, &ConflictError{fmt.Errorf("%s %s is %s: it cannot be revoked", family, e.Version, e.State)}
	}
	notes, err := cat.Revoke(ctx, family, e.Version.String(), reason, f.now())
	if err != nil {
		return imageChange(family, notes, catalog.Entry{}), err
	}
	after, _ := cat.Version(ctx, family, e.Version) // no entry in the answer if it cannot be read
	return imageChange(family, notes, after), nil
}

// PromoteImage is `remint image promote`: a candidate version becomes active on the
// operator's word (an override of its verification is recorded on the image); a version
// in another state is a bad request.
func (f *Fleet) PromoteImage(ctx context.Context, family, version, by string) (ImageChange, error) {
	cat, _, err := f.catalog(ctx, family)
	if err != nil {
		return ImageChange{}, err
	}
	e, err := entry(ctx, cat, family, version)
	if err != nil {
		return ImageChange{}, err
	}
	if e.State != catalog.Candidate {
		return ImageChange{}, badRequest("promote %s %s: it is %s; only a candidate can be promoted", family, e.Version, e.State)
	}
	pe, notes, err := cat.PromoteVersion(ctx, family, e.Version, f.now())
	ch := imageChange(family, notes, pe)
	if err != nil {
		return ch, err
	}
	f.log("image version promoted", "family", family, "version", e.Version.String(), "by", by)
	return ch, nil
}

func (f *Fleet) RetireImages(ctx context.Context, family string, req RetireRequest, by string) (ImageChange, error) {
	cat, cl, err := f.catalog(ctx, family)
	if err != nil {
		return ImageChange{}, err
	}
	keep := req.Keep
	if keep == 0 {
		keep = f.Manifest.Families[family].Keep()
	}
	inUse, err := catalog.ImagesInUse(ctx, cl)
	if err != nil {
		return ImageChange{}, err
	}
	notes, err := cat.Retire(ctx, family, catalog.RetireOptions{Keep: keep, InUse: func(id string) bool { return inUse[id] }, DryRun: req.DryRun}, f.now())
	if err != nil {
		if len(notes) > 0 {
			err = fmt.Errorf("%w (done before it failed: %s)", err, strings.Join(notes, "; "))
		}
		return ImageChange{}, err
	}
	if notes == nil {
		notes = []string{}
	}
	if !req.DryRun {
		f.log("retention enforced", "family", family, "keep", keep, "changes", len(notes), "by", by)
	}
	return ImageChange{Family: family, Keep: keep, DryRun: req.DryRun, Notes: notes}, nil
}

// ConflictError refuses a change the current state does not allow (409): an image in the
// catalog already, a version revoked already.
type ConflictError struct{ Err error }

func (e *ConflictError) Error() string { return e.Err.Error() }
func (e *ConflictError) Unwrap() error { return e.Err }
