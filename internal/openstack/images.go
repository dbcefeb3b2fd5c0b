package openstack

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// imageQueryKeys are Glance's own list parameters; a custom property by one of these
// names cannot be filtered on.
var imageQueryKeys = map[string]bool{
	"limit": true, "marker": true, "sort": true, "sort_key": true, "sort_dir": true,
	"name": true, "status": true, "visibility": true, "tag": true, "os_hidden": true,
	"member_status": true, "owner": true, "size_min": true, "size_max": true,
	"created_at": true, "updated_at": true, "id": true, "container_format": true,
	"disk_format": true, "protected": true,
}

// imageListQuery is a gophercloud images.ListOptsBuilder that, unlike images.ListOpts,
// can filter on custom properties (Glance takes them as top-level query keys).
type imageListQuery struct {
	opts   ListImagesOpts
	hidden bool // list hidden images (os_hidden=true) instead of visible ones
}

// ToImageListQuery renders the query string, "?…" (or "" when empty).
func (q imageListQuery) ToImageListQuery() (string, error) {
	v := url.Values{}
	o := q.opts
	if o.Name != "" {
		v.Set("name", o.Name)
	}
	if o.Status != "" {
		v.Set("status", o.Status)
	}
	if o.Visibility != "" {
		v.Set("visibility", o.Visibility)
	}
	for _, t := range o.Tags {
		v.Add("tag", t)
	}
	for k, val := range o.Properties {
		if k == "" || imageQueryKeys[k] {
			return "", fmt.Errorf("image property filter %q: not a custom property name", k)
		}
		v.Set(k, val)
	}
	if q.hidden {
		v.Set("os_hidden", "true")
	}
	if o.Sort != "" {
		if _, err := parseImageSort(o.Sort); err != nil {
			return "", err
		}
		v.Set("sort", o.Sort)
	}
	if o.PageSize > 0 {
		v.Set("limit", strconv.Itoa(o.PageSize))
	}
	if len(v) == 0 {
		return "", nil
	}
	return "?" + v.Encode(), nil
}

// imageSortKey is one key of Glance's sort=key[:dir],… parameter.
type imageSortKey struct {
	key  string
	desc bool
}

// parseImageSort reads "created_at:desc,name" (Glance's direction defaults to desc).
func parseImageSort(s string) ([]imageSortKey, error) {
	var out []imageSortKey
	for _, part := range strings.Split(s, ",") {
		key, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
		if key == "" {
			return nil, fmt.Errorf("image sort %q: empty key", s)
		}
		switch dir {
		case "", "desc":
			out = append(out, imageSortKey{key: key, desc: true})
		case "asc":
			out = append(out, imageSortKey{key: key})
		default:
			return nil, fmt.Errorf("image sort %q: direction %q, want asc or desc", s, dir)
		}
	}
	return out, nil
}

// sortImages orders images as Glance would for keys, used to merge the visible and
// the hidden listing. Ties are broken by id, descending, like Glance.
func sortImages(list []Image, keys []imageSortKey) {
	field := func(im Image, key string) string {
		switch key {
		case "name":
			return im.Name
		case "status":
			return im.Status
		case "visibility":
			return im.Visibility
		case "id":
			return im.ID
		case "created_at":
			return im.Created.UTC().Format("2006-01-02T15:04:05.000000000")
		case "updated_at":
			return im.Updated.UTC().Format("2006-01-02T15:04:05.000000000")
		case "size":
			return fmt.Sprintf("%020d", im.Size)
		}
		return im.Properties[key]
	}
	slices.SortStableFunc(list, func(a, b Image) int {
		for _, k := range keys {
			c := cmp.Compare(field(a, k.key), field(b, k.key))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return -cmp.Compare(a.ID, b.ID)
	})
}

// ListImages lists images matching opts, following Glance's paging to the end.
// IncludeHidden costs a second listing (Glance lists either hidden or visible
// images), merged in opts.Sort order (default created_at:desc).
func (c *Client) ListImages(ctx context.Context, opts ListImagesOpts) ([]Image, error) {
	sortKeys, err := parseImageSort(cmp.Or(opts.Sort, "created_at:desc"))
	if err != nil {
		return nil, Terminal(fmt.Errorf("list images: %w", err))
	}
	out, err := c.listImages(ctx, imageListQuery{opts: opts})
	if err != nil || !opts.IncludeHidden {
		return out, err
	}
	hidden, err := c.listImages(ctx, imageListQuery{opts: opts, hidden: true})
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(out))
	for _, im := range out {
		seen[im.ID] = true
	}
	for _, im := range hidden {
		if !seen[im.ID] {
			out = append(out, im)
		}
	}
	sortImages(out, sortKeys)
	return out, nil
}

func (c *Client) listImages(ctx context.Context, q imageListQuery) ([]Image, error) {
	query, err := q.ToImageListQuery()
	if err != nil {
		return nil, Terminal(fmt.Errorf("list images: %w", err))
	}
	op := "list images"
	if query != "" {
		op += " " + query
	}
	list, err := call(ctx, c, op, idempotent, func(ctx context.Context) ([]images.Image, error) {
		pages, err := images.List(c.image, q).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		return images.ExtractImages(pages)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(list))
	for i := range list {
		out = append(out, imageFrom(&list[i]))
	}
	return out, nil
}

// GetImage reads one image.
func (c *Client) GetImage(ctx context.Context, id string) (Image, error) {
	im, err := call(ctx, c, "get image "+id, idempotent, func(ctx context.Context) (*images.Image, error) {
		return images.Get(ctx, c.image, id).Extract()
	})
	if err != nil {
		return Image{}, err
	}
	return imageFrom(im), nil
}

// CreateImage creates an image record (status queued); upload its data with
// UploadImage. Not idempotent: retried only when the request surely did not reach
// Glance.
func (c *Client) CreateImage(ctx context.Context, spec ImageCreate) (Image, error) {
	opts := images.CreateOpts{
		Name:            spec.Name,
		ContainerFormat: cmp.Or(spec.ContainerFormat, "bare"),
		DiskFormat:      cmp.Or(spec.DiskFormat, "qcow2"),
		Tags:            spec.Tags,
		Properties:      spec.Properties,
	}
	if spec.Visibility != "" {
		v := images.ImageVisibility(spec.Visibility)
		opts.Visibility = &v
	}
	im, err := call(ctx, c, "create image "+spec.Name, createOnce, func(ctx context.Context) (*images.Image, error) {
		return images.Create(ctx, c.image, opts).Extract()
	})
	if err != nil {
		return Image{}, err
	}
	return imageFrom(im), nil
}

// UploadImage uploads the image's data (the image must be queued). It is retried like
// a create, and only when r can seek back to its start.
func (c *Client) UploadImage(ctx context.Context, id string, r io.Reader) error {
	class := never
	seeker, canSeek := r.(io.Seeker)
	var start int64
	if canSeek {
		pos, err := seeker.Seek(0, io.SeekCurrent)
		if err == nil {
			class, start = createOnce, pos
		}
	}
	attempt := 0
	return call0(ctx, c, "upload data of image "+id, class, func(ctx context.Context) error {
		attempt++
		if attempt > 1 {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return Terminal(fmt.Errorf("rewind the data for another attempt: %w", err))
			}
		}
		return imagedata.Upload(ctx, c.image, id, r).ExtractErr()
	})
}

// UpdateImage applies one Glance JSON-patch. Properties are added (an add replaces
// an existing value) or removed (removing one the image does not have is skipped,
// which costs a read first), the tag list is replaced as a whole, and name,
// visibility, os_hidden and protected are replaced. It returns the updated image.
func (c *Client) UpdateImage(ctx context.Context, id string, u ImageUpdate) (Image, error) {
	var patch images.UpdateOpts
	var what []string
	if u.Name != nil {
		patch = append(patch, images.ReplaceImageName{NewName: *u.Name})
		what = append(what, "name")
	}
	for _, k := range slices.Sorted(maps.Keys(u.SetProperties)) {
		patch = append(patch, images.UpdateImageProperty{Op: images.AddOp, Name: k, Value: u.SetProperties[k]})
		what = append(what, "+"+k)
	}
	if len(u.RemoveProperties) > 0 {
		cur, err := c.GetImage(ctx, id)
		if err != nil {
			return Image{}, fmt.Errorf("update image %s: %w", id, err)
		}
		remove := slices.Clone(u.RemoveProperties)
		slices.Sort(remove)
		for _, k := range slices.Compact(remove) {
			if _, ok := cur.Properties[k]; ok {
				patch = append(patch, images.UpdateImageProperty{Op: images.RemoveOp, Name: k})
				what = append(what, "-"+k)
			}
		}
	}
	if u.Tags != nil {
		tags := *u.Tags
		if tags == nil {
			tags = []string{}
		}
		patch = append(patch, images.ReplaceImageTags{NewTags: tags})
		what = append(what, "tags")
	}
	if u.Visibility != nil {
		patch = append(patch, images.UpdateVisibility{Visibility: images.ImageVisibility(*u.Visibility)})
		what = append(what, "visibility")
	}
	if u.Hidden != nil {
		patch = append(patch, images.ReplaceImageHidden{NewHidden: *u.Hidden})
		what = append(what, "os_hidden")
	}
	if u.Protected != nil {
		patch = append(patch, images.ReplaceImageProtected{NewProtected: *u.Protected})
		what = append(what, "protected")
	}
	if len(patch) == 0 {
		return c.GetImage(ctx, id)
	}
	op := fmt.Sprintf("update image %s (%s)", id, strings.Join(what, " "))
	im, err := call(ctx, c, op, idempotent, func(ctx context.Context) (*images.Image, error) {
		return images.Update(ctx, c.image, id, patch).Extract()
	})
	if err != nil {
		return Image{}, err
	}
	return imageFrom(im), nil
}

// DeactivateImage makes an image unusable for new servers (and its data unreadable)
// without deleting it. Deactivating a deactivated image is a no-op.
func (c *Client) DeactivateImage(ctx context.Context, id string) error {
	return c.imageAction(ctx, "deactivate", id)
}

// ReactivateImage undoes DeactivateImage.
func (c *Client) ReactivateImage(ctx context.Context, id string) error {
	return c.imageAction(ctx, "reactivate", id)
}

// imageAction POSTs images/{id}/actions/{action}; gophercloud has no wrapper for it.
func (c *Client) imageAction(ctx context.Context, action, id string) error {
	u := c.image.ServiceURL("images", id, "actions", action)
	return call0(ctx, c, action+" image "+id, idempotent, func(ctx context.Context) error {
		resp, err := c.image.Post(ctx, u, nil, nil, &gophercloud.RequestOpts{OkCodes: []int{204}})
		_, _, err = gophercloud.ParseResponse(resp, err)
		return err
	})
}

// DeleteImage deletes an image; one already gone is success. A protected image is
// refused (403, terminal).
func (c *Client) DeleteImage(ctx context.Context, id string) error {
	err := call0(ctx, c, "delete image "+id, idempotent, func(ctx context.Context) error {
		return images.Delete(ctx, c.image, id).ExtractErr()
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// WaitImageActive waits until the image is active and returns it. killed, deleted,
// pending_delete and deactivated are terminal, and so is the image disappearing.
func (c *Client) WaitImageActive(ctx context.Context, id string) (Image, error) {
	var last Image
	err := c.wait(ctx, "image "+id+" to become active", func(ctx context.Context) (pollResult, error) {
		im, err := c.GetImage(ctx, id)
		if err != nil {
			return pollResult{}, err
		}
		last = im
		switch im.Status {
		case "active":
			return pollResult{done: true, status: im.Status}, nil
		case "killed", "deleted", "pending_delete", "deactivated":
			return pollResult{}, Terminal(fmt.Errorf("image %s (%s) is %s", im.Name, im.ID, im.Status))
		}
		return pollResult{status: im.Status}, nil
	})
	return last, err
}

// notProperties are keys gophercloud leaves in Image.Properties that are Glance's own
// attributes, not custom properties.
var notProperties = map[string]bool{
	"os_hash_algo": true, "os_hash_value": true, "stores": true, "locations": true,
	"direct_url": true, "self": true,
}

func imageFrom(im *images.Image) Image {
	out := Image{
		ID:         im.ID,
		Name:       im.Name,
		Status:     string(im.Status),
		Visibility: string(im.Visibility),
		Hidden:     im.Hidden,
		Protected:  im.Protected,
		Tags:       im.Tags,
		Properties: map[string]string{},
		Size:       im.SizeBytes,
		Checksum:   im.Checksum,
		Created:    im.CreatedAt,
		Updated:    im.UpdatedAt,
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	for k, v := range im.Properties {
		if notProperties[k] || v == nil {
			continue
		}
		switch v := v.(type) {
		case string:
			out.Properties[k] = v
		case bool, float64, int, int64:
			out.Properties[k] = fmt.Sprint(v)
		}
	}
	return out
}
