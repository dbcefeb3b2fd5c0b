package sim

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// kvObject is a JSON object that keeps its keys in insertion order, so the simulator's
// answers read like the reference captures (Glance puts custom properties first, Neutron
// has its own field order). Neutron's fields= selection and filters also work on it.
type kvObject struct {
	keys []string
	vals map[string]any
}

func newKV() *kvObject { return &kvObject{vals: map[string]any{}} }

// set adds k (at the end) or overwrites its value in place.
func (o *kvObject) set(k string, v any) *kvObject {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

// only returns a copy holding just the given keys (in the object's order); unknown keys
// are ignored, as Neutron ignores unknown fields= entries.
func (o *kvObject) only(keys []string) *kvObject {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := newKV()
	for _, k := range o.keys {
		if want[k] {
			out.set(k, o.vals[k])
		}
	}
	return out
}

// MarshalJSON writes the object with its keys in order.
func (o *kvObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// zuluSeconds renders a timestamp the way Glance and Neutron do: UTC, whole seconds, "Z".
func zuluSeconds(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// nullWhenEmpty renders "" as JSON null.
func nullWhenEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// glanceHasData reports whether the image's data is known (size, checksum rendered).
func glanceHasData(img *Image) bool { return glanceStatusHasData(img.Status) }

func glanceStatusHasData(status string) bool {
	switch status {
	case "queued", "saving", "importing", "uploading":
		return false
	}
	return true
}

// glanceImageJSON renders an image as Glance v2 does (reference 22): custom properties
// first as top-level keys, then the base attributes, then self/file/schema.
func glanceImageJSON(img *Image) *kvObject {
	o := newKV()
	for _, k := range slices.Sorted(maps.Keys(img.Properties)) {
		if glanceBaseAttrs[k] {
			continue // never shadow a base attribute
		}
		o.set(k, img.Properties[k])
	}
	var size any
	if glanceHasData(img) {
		size = img.Size
	}
	tags := img.Tags
	if tags == nil {
		tags = []string{}
	}
	o.set("name", nullWhenEmpty(img.Name)).
		set("disk_format", nullWhenEmpty(img.DiskFormat)).
		set("container_format", nullWhenEmpty(img.ContainerFormat)).
		set("visibility", img.Visibility).
		set("size", size).
		set("virtual_size", size).
		set("status", img.Status).
		set("checksum", nullWhenEmpty(img.Checksum)).
		set("protected", img.Protected).
		set("min_ram", img.MinRAM).
		set("min_disk", img.MinDisk).
		set("owner", nullWhenEmpty(img.Owner)).
		set("os_hidden", img.Hidden).
		set("os_hash_algo", nullWhenEmpty(img.MultihashAlgo)).
		set("os_hash_value", nullWhenEmpty(img.Multihash)).
		set("id", img.ID).
		set("created_at", zuluSeconds(img.Created)).
		set("updated_at", zuluSeconds(img.Updated)).
		set("tags", tags).
		set("self", "/v2/images/"+img.ID).
		set("file", "/v2/images/"+img.ID+"/file").
		set("schema", "/v2/schemas/image")
	return o
}

// glanceBaseAttrs are the attributes of Glance's image schema; every other key of an image
// document is a custom property.
var glanceBaseAttrs = map[string]bool{
	"id": true, "name": true, "status": true, "visibility": true, "protected": true,
	"os_hidden": true, "owner": true, "container_format": true, "disk_format": true,
	"min_disk": true, "min_ram": true, "size": true, "virtual_size": true, "checksum": true,
	"os_hash_algo": true, "os_hash_value": true, "tags": true, "created_at": true,
	"updated_at": true, "self": true, "file": true, "schema": true, "locations": true,
	"direct_url": true,
}

// glanceReadOnly are the attributes a client may not set (Glance's _readonly_properties).
var glanceReadOnly = map[string]bool{
	"created_at": true, "updated_at": true, "status": true, "checksum": true,
	"os_hash_algo": true, "os_hash_value": true, "size": true, "virtual_size": true,
	"direct_url": true, "self": true, "file": true, "schema": true, "id": true,
}

// glanceReserved are attributes Glance refuses as "reserved".
var glanceReserved = map[string]bool{"location": true, "deleted": true, "deleted_at": true}

var glanceDiskFormats = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
var glanceContainerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
var glanceVisibilities = []string{"community", "public", "private", "shared"}
