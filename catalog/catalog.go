package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
)

// Glance property and tag names the catalog owns.
const (
	PropFamily         = "remint_family"
	PropVersion        = "remint_version"
	PropState          = "remint_state"
	PropSourceImage    = "remint_source_image"
	PropBuiltAt        = "remint_built_at"
	PropPackagesDigest = "remint_packages_digest"
	PropRegisteredAt   = "remint_registered_at"
	PropRevokedReason  = "remint_revoked_reason"
	PropStateChangedAt = "remint_state_changed_at"
	Tag                = "remint"
)

// ErrNoActiveImage is returned when a family has no active image.
var ErrNoActiveImage = errors.New("no active image")

// ErrUnknownVersion is returned when a family has no such version: bad input (a
// mistyped --image, a manifest pinning a version never registered).
var ErrUnknownVersion = errors.New("unknown version")

// Images is the part of the Glance API the catalog uses; *openstack.Client implements it.
type Images interface {
	ListImages(ctx context.Context, opts openstack.ListImagesOpts) ([]openstack.Image, error)
	GetImage(ctx context.Context, id string) (openstack.Image, error)
	UpdateImage(ctx context.Context, id string, u openstack.ImageUpdate) (openstack.Image, error)
	DeactivateImage(ctx context.Context, id string) error
	DeleteImage(ctx context.Context, id string) error
}

// Entry is one catalog image.
type Entry struct {
	Family  string
	Version Version
	State   State
	Image   openstack.Image
}

func (e Entry) String() string {
	return fmt.Sprintf("%s %s (%s, image %s)", e.Family, e.Version, e.State, e.Image.ID)
}

// Catalog reads and changes the image catalog in the cloud.
type Catalog struct {
	images Images
}

// New returns a catalog backed by images.
func New(images Images) *Catalog { return &Catalog{images: images} }

// List returns a family's catalog images, newest version first, hidden ones included.
func (c *Catalog) List(ctx context.Context, family string) ([]Entry, error) {
	imgs, err := c.images.ListImages(ctx, openstack.ListImagesOpts{
		Properties: map[string]string{PropFamily: family}, IncludeHidden: true,
	})
	if err != nil {
		return nil, fmt.Errorf("list images of family %s: %w", family, err)
	}
	var out []Entry
	for _, img := range imgs {
		e, ok := entryOf(img)
		if ok && e.Family == family {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Version.Compare(out[j].Version) > 0 })
	return out, nil
}

// entryOf reads the catalog properties of img; ok is false when it is not a catalog image.
func entryOf(img openstack.Image) (Entry, bool) {
	fam := img.Properties[PropFamily]
	v, err := ParseVersion(img.Properties[PropVersion])
	st, okState := parseState(img.Properties[PropState])
	if fam == "" || err != nil || !okState {
		return Entry{}, false
	}
	return Entry{Family: fam, Version: v, State: st, Image: img}, true
}

// Latest returns the family's newest active image.
func (c *Catalog) Latest(ctx context.Context, family string) (Entry, error) {
	entries, err := c.List(ctx, family)
	if err != nil {
		return Entry{}, err
	}
	for _, e := range entries {
		if e.State == Active && e.Image.Status == "active" {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("family %s: %w (register one with: remint image register %s IMAGE_ID)", family, ErrNoActiveImage, family)
}

// Resolve returns the image for version of family: "latest" or "" means Latest. Revoked
// and retired versions are refused: nothing new may boot from them.
func (c *Catalog) Resolve(ctx context.Context, family, version string) (Entry, error) {
	if version == "" || version == "latest" {
		return c.Latest(ctx, family)
	}
	want, err := ParseVersion(version)
	if err != nil {
		return Entry{}, err
	}
	e, err := c.Version(ctx, family, want)
	if err != nil {
		return Entry{}, err
	}
	if !e.State.Bootable() {
		return Entry{}, fmt.Errorf("family %s version %s is %s: servers may not boot from it", family, version, e.State)
	}
	return e, nil
}

// Register makes an existing image (built elsewhere, e.g. by Packer) the family's new
// active version. The image must be active in Glance and not already in the catalog. The
// previous active version becomes deprecated. It returns the new entry and notes saying
// what changed. Use AddCandidate, a verification boot and Promote to prove it first.
func (c *Catalog) Register(ctx context.Context, family, imageID string, now time.Time) (Entry, []string, error) {
	e, entries, err := c.add(ctx, family, imageID, Active, nil, now)
	if err != nil {
		return Entry{}, nil, err
	}
	notes := []string{fmt.Sprintf("image %s registered as %s %s (active)", imageID, family, e.Version)}
	more, err := c.deprecateOthers(ctx, entries, imageID, now)
	return e, append(notes, more...), err
}

// add gives an image that is not yet in the catalog the family's next version in state st,
// with the extra catalog properties props. Catalog properties the image inherited from the
// image its server booted from (Nova copies them into a snapshot) are replaced or removed.
// It also returns the family's entries before the change.
func (c *Catalog) add(ctx context.Context, family, imageID string, st State, props map[string]string, now time.Time) (Entry, []Entry, error) {
	img, err := c.images.GetImage(ctx, imageID)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("add image %s to family %s: %w", imageID, family, err)
	}
	if img.Status != "active" {
		return Entry{}, nil, fmt.Errorf("add image %s to family %s: image status is %s, want active", imageID, family, img.Status)
	}
	if e, ok := entryOf(img); ok {
		inherited, err := c.inheritedEntry(ctx, img)
		if err != nil {
			return Entry{}, nil, err
		}
		if !inherited {
			return Entry{}, nil, fmt.Errorf("add image %s to family %s: already in the catalog as %s", imageID, family, e)
		}
	}
	entries, err := c.List(ctx, family)
	if err != nil {
		return Entry{}, nil, err
	}
	var existing []Version
	for _, e := range entries {
		existing = append(existing, e.Version)
	}
	v := NextVersion(now, existing)
	ts := now.UTC().Format(time.RFC3339)
	tags := img.Tags
	if !slices.Contains(tags, Tag) {
		tags = append(slices.Clone(tags), Tag)
	}
	set := map[string]string{
		PropFamily: family, PropVersion: v.String(), PropState: string(st),
		PropRegisteredAt: ts, PropStateChangedAt: ts,
	}
	for k, val := range props {
		set[k] = val
	}
	var remove []string
	for k := range img.Properties {
		if _, ok := set[k]; !ok && strings.HasPrefix(k, "remint_") {
			remove = append(remove, k)
		}
	}
	slices.Sort(remove)
	// A new active image goes active first; a crash before the old one is deprecated
	// leaves two active images, and Latest still picks the newer one.
	updated, err := c.images.UpdateImage(ctx, imageID, openstack.ImageUpdate{
		SetProperties: set, RemoveProperties: remove, Tags: &tags,
	})
	if err != nil {
		return Entry{}, nil, fmt.Errorf("add image %s as %s %s (%s): %w", imageID, family, v, st, err)
	}
	e, _ := entryOf(updated)
	return e, entries, nil
}

// inheritedEntry reports whether img's catalog properties were copied from the image its
// server booted from: Nova copies a base image's properties into every snapshot, so an
// image built from a catalog image looks like that catalog version until it is added.
func (c *Catalog) inheritedEntry(ctx context.Context, img openstack.Image) (bool, error) {
	base := img.Properties["base_image_ref"]
	if base == "" || base == img.ID {
		return false, nil
	}
	b, err := c.images.GetImage(ctx, base)
	if err != nil {
		if openstack.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("read image %s, the base of %s: %w", base, img.ID, err)
	}
	return b.Properties[PropFamily] == img.Properties[PropFamily] && b.Properties[PropVersion] == img.Properties[PropVersion], nil
}

// Promote makes a candidate active (after its verification boot passed) and deprecates
// the family's other active images.
func (c *Catalog) Promote(ctx context.Context, imageID string, now time.Time) (Entry, []string, error) {
	img, err := c.images.GetImage(ctx, imageID)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("promote image %s: %w", imageID, err)
	}
	e, ok := entryOf(img)
	if !ok {
		return Entry{}, nil, fmt.Errorf("promote image %s: not a catalog image", imageID)
	}
	if err := checkTransition(imageID, e.State, Active); err != nil {
		return Entry{}, nil, err
	}
	e, err = c.setState(ctx, e, Active, now, nil)
	if err != nil {
		return Entry{}, nil, err
	}
	notes := []string{fmt.Sprintf("%s %s is now active", e.Family, e.Version)}
	entries, err := c.List(ctx, e.Family)
	if err != nil {
		return e, notes, err
	}
	more, err := c.deprecateOthers(ctx, entries, imageID, now)
	return e, append(notes, more...), err
}

func (c *Catalog) deprecateOthers(ctx context.Context, entries []Entry, keepID string, now time.Time) ([]string, error) {
	var notes []string
	for _, e := range entries {
		if e.Image.ID == keepID || e.State != Active {
			continue
		}
		if _, err := c.setState(ctx, e, Deprecated, now, nil); err != nil {
			return notes, err
		}
		notes = append(notes, fmt.Sprintf("%s %s (image %s) deprecated", e.Family, e.Version, e.Image.ID))
	}
	return notes, nil
}

// setState moves e to state to, setting extra properties too; to == e.State only sets
// them.
func (c *Catalog) setState(ctx context.Context, e Entry, to State, now time.Time, extra map[string]string) (Entry, error) {
	if to != e.State {
		if err := checkTransition(e.Image.ID, e.State, to); err != nil {
			return Entry{}, err
		}
	}
	props := map[string]string{PropState: string(to), PropStateChangedAt: now.UTC().Format(time.RFC3339)}
	for k, v := range extra {
		props[k] = v
	}
	img, err := c.images.UpdateImage(ctx, e.Image.ID, openstack.ImageUpdate{SetProperties: props})
	if err != nil {
		return Entry{}, fmt.Errorf("mark %s %s (image %s) %s: %w", e.Family, e.Version, e.Image.ID, to, err)
	}
	ne, _ := entryOf(img)
	return ne, nil
}

// Revoke marks a bad version revoked and deactivates its image at once, so nothing boots
// from it again. When it was the active version, the newest deprecated version becomes
// active again: "latest" re-points to the previous good image.
func (c *Catalog) Revoke(ctx context.Context, family, version, reason string, now time.Time) ([]string, error) {
	want, err := ParseVersion(version)
	if err != nil {
		return nil, err
	}
	entries, err := c.List(ctx, family)
	if err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(entries, func(e Entry) bool { return e.Version == want })
	if idx < 0 {
		return nil, fmt.Errorf("revoke %s %s: no such version", family, version)
	}
	bad := entries[idx]
	wasActive := bad.State == Active
	if _, err := c.setState(ctx, bad, Revoked, now, map[string]string{PropRevokedReason: reason}); err != nil {
		return nil, err
	}
	notes := []string{fmt.Sprintf("%s %s (image %s) revoked: %s", family, version, bad.Image.ID, reason)}
	if bad.Image.Status == "active" {
		if err := c.images.DeactivateImage(ctx, bad.Image.ID); err != nil {
			return notes, fmt.Errorf("revoke %s %s: deactivate image %s: %w", family, version, bad.Image.ID, err)
		}
		notes = append(notes, fmt.Sprintf("image %s deactivated", bad.Image.ID))
	}
	if !wasActive {
		return notes, nil
	}
	for _, e := range entries {
		if e.Image.ID == bad.Image.ID || e.State == Active {
			if e.State == Active && e.Image.ID != bad.Image.ID {
				return notes, nil // another active version remains latest
			}
			continue
		}
		if e.State == Deprecated && e.Image.Status == "active" {
			if _, err := c.setState(ctx, e, Active, now, nil); err != nil {
				return notes, err
			}
			return append(notes, fmt.Sprintf("latest %s is now %s (image %s) again", family, e.Version, e.Image.ID)), nil
		}
	}
	return append(notes, fmt.Sprintf("family %s has no other good version: nothing is active now", family)), nil
}

// RetireOptions tunes Retire.
type RetireOptions struct {
	// Keep is how many active and deprecated versions to keep (newest first).
	Keep int
	// InUse reports whether any server still boots from the image; such images are never
	// deleted. When nil, no image is deleted.
	InUse func(imageID string) bool
	// DryRun only says what would be done.
	DryRun bool
}

// Retire enforces retention: versions beyond Keep are marked retired and hidden, and
// retired images that no server uses are deleted. It returns what it did (or, with
// DryRun, would do).
func (c *Catalog) Retire(ctx context.Context, family string, opts RetireOptions, now time.Time) ([]string, error) {
	if opts.Keep < 1 {
		return nil, fmt.Errorf("retire %s: keep must be at least 1, got %d", family, opts.Keep)
	}
	entries, err := c.List(ctx, family)
	if err != nil {
		return nil, err
	}
	var notes []string
	kept := 0
	for _, e := range entries {
		switch e.State {
		case Active, Deprecated:
			kept++
			if kept <= opts.Keep || e.State == Active {
				continue
			}
			notes = append(notes, fmt.Sprintf("%s %s (image %s) retired: beyond retention of %d", family, e.Version, e.Image.ID, opts.Keep))
			if opts.DryRun {
				e.State, e.Image.Hidden = Retired, true
			} else {
				ne, err := c.setState(ctx, e, Retired, now, nil)
				if errors.Is(err, openstack.ErrNotFound) {
					notes = append(notes, gone(family, e))
					continue
				}
				if err != nil {
					return notes, err
				}
				if err := c.hide(ctx, e.Image.ID); errors.Is(err, openstack.ErrNotFound) {
					notes = append(notes, gone(family, e))
					continue
				} else if err != nil {
					return notes, err
				}
				e = ne
				e.Image.Hidden = true
			}
			fallthrough
		case Retired:
			if !e.Image.Hidden {
				// Retired but still listed: an earlier run stopped between marking and hiding.
				notes = append(notes, fmt.Sprintf("%s %s (image %s) hidden: it was retired but still listed", family, e.Version, e.Image.ID))
				if !opts.DryRun {
					if err := c.hide(ctx, e.Image.ID); errors.Is(err, openstack.ErrNotFound) {
						notes = append(notes, gone(family, e))
						continue
					} else if err != nil {
						return notes, err
					}
				}
			}
			if opts.InUse == nil {
				notes = append(notes, fmt.Sprintf("%s %s (image %s) kept: cannot tell whether a server uses it", family, e.Version, e.Image.ID))
				continue
			}
			if opts.InUse(e.Image.ID) {
				notes = append(notes, fmt.Sprintf("%s %s (image %s) kept: a server still uses it", family, e.Version, e.Image.ID))
				continue
			}
			notes = append(notes, fmt.Sprintf("%s %s (image %s) deleted: retired and unused", family, e.Version, e.Image.ID))
			if !opts.DryRun {
				// (The adapter's delete is idempotent: an image another run deleted is done.)
				if err := c.images.DeleteImage(ctx, e.Image.ID); err != nil {
					return notes, fmt.Errorf("delete retired image %s: %w", e.Image.ID, err)
				}
			}
		}
	}
	return notes, nil
}

// gone notes an image another run (a second retire, the daemon's retention job) deleted
// while this one was at it: the outcome both wanted.
func gone(family string, e Entry) string {
	return fmt.Sprintf("%s %s (image %s) already deleted by another run", family, e.Version, e.Image.ID)
}

func (c *Catalog) hide(ctx context.Context, imageID string) error {
	hidden := true
	if _, err := c.images.UpdateImage(ctx, imageID, openstack.ImageUpdate{Hidden: &hidden}); err != nil {
		return fmt.Errorf("hide retired image %s: %w", imageID, err)
	}
	return nil
}
