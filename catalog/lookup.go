package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/remint-dev/remint/internal/openstack"
)

// Lookup errors. They are caused by what the user asked for, not by the cloud: commands
// map them to "bad input" (exit 2). Test with errors.Is; the messages say what exists.
// ErrUnknownVersion (catalog.go) is the third.
var (
	// ErrImageNotFound: no image has that id or name.
	ErrImageNotFound = errors.New("image not found")
	// ErrAmbiguousImage: several images have that name.
	ErrAmbiguousImage = errors.New("image name is ambiguous")
)

// UnknownVersionError says that Family has no Version, and which versions it has.
// errors.Is(err, ErrUnknownVersion) holds for it.
type UnknownVersionError struct {
	Family  string
	Version Version
	Known   []Version // newest first; empty when the family's catalog is empty
}

func (e *UnknownVersionError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("family %s has no version %s: its catalog is empty (register one with: remint image register %s IMAGE)", e.Family, e.Version, e.Family)
	}
	known := make([]string, len(e.Known))
	for i, v := range e.Known {
		known[i] = v.String()
	}
	return fmt.Sprintf("family %s has no version %s (versions: %s)", e.Family, e.Version, strings.Join(known, ", "))
}

// Is makes errors.Is(err, ErrUnknownVersion) true.
func (e *UnknownVersionError) Is(target error) bool { return target == ErrUnknownVersion }

// lookupError is a message that classifies as one of the lookup sentinels.
type lookupError struct {
	msg  string
	kind error
}

func (e *lookupError) Error() string        { return e.msg }
func (e *lookupError) Is(target error) bool { return target == e.kind }

// Version returns version want of family, whatever its state (revoked and retired ones
// too: this is for showing and changing entries, not for booting; see Resolve). An
// unknown version is an *UnknownVersionError listing the versions there are.
func (c *Catalog) Version(ctx context.Context, family string, want Version) (Entry, error) {
	entries, err := c.List(ctx, family)
	if err != nil {
		return Entry{}, err
	}
	known := make([]Version, 0, len(entries))
	for _, e := range entries {
		if e.Version == want {
			return e, nil
		}
		known = append(known, e.Version)
	}
	return Entry{}, &UnknownVersionError{Family: family, Version: want, Known: known}
}

// ImageFinder reads images by id and lists them by name; *openstack.Client implements it.
type ImageFinder interface {
	GetImage(ctx context.Context, id string) (openstack.Image, error)
	ListImages(ctx context.Context, opts openstack.ListImagesOpts) ([]openstack.Image, error)
}

// FindImage resolves ref, an image id or a unique image name (hidden images included).
// No match is ErrImageNotFound, several images of that name ErrAmbiguousImage (the
// message lists their ids).
func FindImage(ctx context.Context, images ImageFinder, ref string) (openstack.Image, error) {
	img, err := images.GetImage(ctx, ref)
	if err == nil {
		return img, nil
	}
	if !openstack.IsNotFound(err) {
		return openstack.Image{}, fmt.Errorf("look up image %s: %w", ref, err)
	}
	byName, err := images.ListImages(ctx, openstack.ListImagesOpts{Name: ref, IncludeHidden: true})
	if err != nil {
		return openstack.Image{}, fmt.Errorf("look up image named %s: %w", ref, err)
	}
	switch len(byName) {
	case 0:
		return openstack.Image{}, &lookupError{fmt.Sprintf("no image has the id or name %q", ref), ErrImageNotFound}
	case 1:
		return byName[0], nil
	}
	ids := make([]string, len(byName))
	for i, im := range byName {
		ids[i] = im.ID
	}
	slices.Sort(ids)
	return openstack.Image{}, &lookupError{fmt.Sprintf("%d images are named %q; give the id of one: %s", len(byName), ref, strings.Join(ids, ", ")), ErrAmbiguousImage}
}

// ServerLister lists servers; *openstack.Client implements it.
type ServerLister interface {
	ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error)
}

// ImagesInUse lists every server of the project and returns the set of image ids they
// boot from: the images retention must never delete.
func ImagesInUse(ctx context.Context, servers ServerLister) (map[string]bool, error) {
	list, err := servers.ListServers(ctx, openstack.ListServersOpts{})
	if err != nil {
		return nil, fmt.Errorf("list servers to find the images in use: %w", err)
	}
	inUse := map[string]bool{}
	for _, s := range list {
		if s.ImageID != "" {
			inUse[s.ImageID] = true
		}
	}
	return inUse, nil
}
