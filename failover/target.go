package failover

import (
	"context"
	"errors"
	"fmt"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/openstack"
)

// Catalog resolves an image family's version ("" or "latest": the latest active one)
// to its image; *catalog.Catalog implements it.
type Catalog interface {
	Resolve(ctx context.Context, family, version string) (catalog.Entry, error)
}

// ImageReader reads one image by id; *openstack.Client implements it.
type ImageReader interface {
	GetImage(ctx context.Context, id string) (openstack.Image, error)
}

// BadRequestError marks a request that cannot be carried out as asked (a version the
// family does not have, an override out of range, servers never adopted): nothing was
// changed. The CLI exits 2 for it; an API answers 400.
type BadRequestError struct{ Err error }

func (e BadRequestError) Error() string { return e.Err.Error() }
func (e BadRequestError) Unwrap() error { return e.Err }

func badRequest(format string, a ...any) error {
	return BadRequestError{fmt.Errorf(format, a...)}
}

// ResolveTarget picks the image a rebuild moves the group to: the image id the group
// pins, else the family's version (version, then the group's pinned version, then the
// latest active one) from the catalog. A version the family does not have, or a pinned
// image that does not exist, is a BadRequestError.
func ResolveTarget(ctx context.Context, cat Catalog, images ImageReader, spec Spec, version string) (Target, error) {
	ref := spec.Image
	if ref.ID != "" && version == "" {
		img, err := images.GetImage(ctx, ref.ID)
		if err != nil {
			err = fmt.Errorf("read pinned image %s of group %s: %w", ref.ID, spec.Group, err)
			if openstack.IsNotFound(err) {
				return Target{}, BadRequestError{err}
			}
			return Target{}, err
		}
		return Target{ImageID: img.ID, ImageName: img.Name, Version: img.Properties[catalog.PropVersion]}, nil
	}
	if ref.Family == "" {
		return Target{}, badRequest("group %s pins image id %s; --image %s needs an image family", spec.Group, ref.ID, version)
	}
	if version == "" {
		version = ref.Version
	}
	e, err := cat.Resolve(ctx, ref.Family, version)
	if err != nil {
		err = fmt.Errorf("resolve image %s %s for group %s: %w", ref.Family, orLatest(version), spec.Group, err)
		if errors.Is(err, catalog.ErrUnknownVersion) {
			return Target{}, BadRequestError{err}
		}
		return Target{}, err
	}
	return Target{ImageID: e.Image.ID, ImageName: e.Image.Name, Version: e.Version.String()}, nil
}

func orLatest(v string) string {
	if v == "" {
		return "latest"
	}
	return v
}
