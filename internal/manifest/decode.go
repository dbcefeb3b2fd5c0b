package manifest

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many nodes one manifest may expand to, so that a few lines of
// nested aliases ("billion laughs") cannot make Load run forever.
const maxNodes = 200_000

// decoder turns a yaml.Node tree into the schema types, field by field, recording where
// every field path was found so later checks can point at it. It never stops at the
// first problem: bad fields are reported and left at their zero value.
type decoder struct {
	file   string
	errs   Errors
	values map[string]*yaml.Node // value node of each decoded field path (nulls included)
	keys   map[string]*yaml.Node // key node naming each field path
	bad    map[string]bool       // field paths that already have an error
	root   *yaml.Node
	nodes  int
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, values: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, bad: map[string]bool{}}
}

// errorAt records a problem at node n (nil: the document start).
func (d *decoder) errorAt(n *yaml.Node, path, format string, a ...any) {
	d.bad[path] = true
	e := &Error{File: d.file, Field: path, Message: fmt.Sprintf(format, a...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	} else if d.root != nil {
		e.Line, e.Column = d.root.Line, d.root.Column
	}
	d.errs = append(d.errs, e)
}

// errorf records a problem with the field at path: at its value when it was written, else
// at the key of the nearest enclosing field that was (where the missing field belongs).
func (d *decoder) errorf(path, format string, a ...any) {
	d.errorAt(d.locate(path), path, format, a...)
}

func (d *decoder) locate(path string) *yaml.Node {
	if n := d.values[path]; n != nil {
		if k := d.keys[path]; k != nil && isNull(n) {
			return k // "count:" with nothing after it: point at the key
		}
		return n
	}
	for p := parentPath(path); p != ""; p = parentPath(p) {
		if k := d.keys[p]; k != nil {
			return k
		}
		if v := d.values[p]; v != nil {
			return v // a list item has no key; point at the item
		}
	}
	return d.root
}

// written reports whether the field at path was written with a non-null value.
func (d *decoder) written(path string) bool {
	n := d.values[path]
	return n != nil && !isNull(n)
}

// parentPath strips the last element: "a.b[2]" → "a.b", "a.b" → "a", "a" → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// spend counts one node against maxNodes; false once the budget is exhausted (reported
// once, at the node that exhausted it).
func (d *decoder) spend(n *yaml.Node, path string) bool {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorAt(n, path, "document expands to more than %d nodes (aliases nested too deeply)", maxNodes)
		}
		return false
	}
	return true
}

// describe says what a node is, for "got …" in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "string " + quote(n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "nothing"
		default:
			return n.ShortTag() + " " + quote(n.Value)
		}
	}
	return "an unexpected YAML node"
}

// quote quotes s for a message, shortening very long values.
func quote(s string) string {
	const limit = 60
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

var durationType = reflect.TypeFor[time.Duration]()

// tagRule is the policy on explicit YAML tags, stated in every message that enforces it.
const tagRule = "the manifest defines no YAML tags; only the standard !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are allowed, where the field has that type (remove the tag)"

// standardTags maps the standard tags a manifest may write to whether they fit a field
// of kind k. Anything else (!!python/object:…, !!binary, !!timestamp, !custom) would be
// silently ignored by the decoder, so it is refused instead.
var standardTags = map[string]func(t reflect.Type) bool{
	"!!str":   func(t reflect.Type) bool { return t.Kind() == reflect.String || t == durationType },
	"!!int":   func(t reflect.Type) bool { return t.Kind() == reflect.Int },
	"!!bool":  func(t reflect.Type) bool { return t.Kind() == reflect.Bool },
	"!!float": func(t reflect.Type) bool { return false }, // no field is a float
	"!!null":  func(t reflect.Type) bool { return true },
	"!!map":   func(t reflect.Type) bool { return t.Kind() == reflect.Struct || t.Kind() == reflect.Map },
	"!!seq":   func(t reflect.Type) bool { return t.Kind() == reflect.Slice },
}

// tagAllowed reports whether n carries no explicit tag, or a standard one that fits the
// field's type t; otherwise it records the problem at n.
func (d *decoder) tagAllowed(n *yaml.Node, path string, t reflect.Type) bool {
	if n.Style&yaml.TaggedStyle == 0 {
		return true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tag := n.ShortTag()
	if fits, ok := standardTags[tag]; ok && fits(t) {
		return true
	}
	d.errorAt(n, path, "YAML tag %s is not allowed: %s", tag, tagRule)
	return false
}

// decode fills v (addressable) from n, recording path → node.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if !d.spend(n, path) {
		return
	}
	d.values[path] = n
	t := v.Type()
	if !d.tagAllowed(n, path, t) {
		return
	}

	if t.Kind() == reflect.Pointer {
		if isNull(n) {
			// "http:" with nothing after it turns the check on with its defaults; other
			// pointers (max_surge, replaceable …) stay unset.
			if t.Elem().Kind() == reflect.Struct {
				v.Set(reflect.New(t.Elem()))
			}
			return
		}
		p := reflect.New(t.Elem())
		d.decode(n, path, p.Elem())
		// A scalar of the wrong type leaves the field unset rather than zero (a bad
		// "replaceable: no" must not read as false). Structs stay allocated, so that a
		// malformed family or group still exists for references to it.
		if !d.bad[path] || t.Elem().Kind() == reflect.Struct {
			v.Set(p)
		}
		return
	}
	if isNull(n) {
		return // written but empty: the same as leaving the field out
	}

	switch {
	case t == durationType:
		d.duration(n, path, v)
	case t.Kind() == reflect.Struct:
		d.structure(n, path, v)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorAt(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case t.Kind() == reflect.Map:
		d.mapping(n, path, v)
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorAt(n, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case t.Kind() == reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorAt(n, path, "want an integer, got %s", describe(n))
			return
		}
		if err := n.Decode(&i); err != nil {
			d.errorAt(n, path, "want an integer, got %s (out of range)", describe(n))
			return
		}
		v.SetInt(int64(i))
	case t.Kind() == reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errorAt(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("manifest: no decoder for %s at %s", t, path))
	}
}

func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	const want = `want a duration such as "30s", "10m" or "1h30m"`
	if n.Kind != yaml.ScalarNode {
		d.errorAt(n, path, "%s, got %s", want, describe(n))
		return
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.errorAt(n, path, "%s, got %s (add a unit: ns, us, ms, s, m, h)", want, describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorAt(n, path, "%s, got %s", want, describe(n))
		return
	}
	v.SetInt(int64(dur))
}

// pair is one key/value of a mapping.
type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries, reporting duplicate and non-scalar keys and expanding
// YAML merge keys ("<<: *defaults"); keys written explicitly win over merged ones.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if !d.spend(k, path) {
			return nil
		}
		if k.Kind != yaml.ScalarNode {
			d.errorAt(k, path, "want a name as key, got %s", describe(k))
			continue
		}
		if k.Style&yaml.TaggedStyle != 0 && k.ShortTag() != "!!str" && k.ShortTag() != "!!merge" {
			d.errorAt(k, join(path, k.Value), "key %q has the YAML tag %s: %s", k.Value, k.ShortTag(), tagRule)
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(resolve(val), path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorAt(k, join(path, k.Value), "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) mergeSources(v *yaml.Node, path string) []pair {
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				d.errorAt(item, path, "merge key <<: want a mapping or a list of mappings, got %s", describe(item))
				continue
			}
			for _, p := range d.pairs(item, path) {
				if !seen[p.key.Value] { // earlier sources win
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out
	default:
		d.errorAt(v, path, "merge key <<: want a mapping or a list of mappings, got %s", describe(v))
		return nil
	}
}

// structure decodes a mapping into a struct by yaml tags, rejecting unknown keys.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	var names []string
	index := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		index[name] = i
	}
	if n.Kind != yaml.MappingNode {
		if len(names) == 0 { // a marker such as health.cloud, written {}
			d.errorAt(n, path, "want an empty mapping {}, got %s", describe(n))
			return
		}
		d.errorAt(n, path, "want a mapping with keys %s, got %s", strings.Join(names, ", "), describe(n))
		return
	}
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.key.Value)
		i, ok := index[p.key.Value]
		if !ok {
			if len(names) == 0 {
				d.errorAt(p.key, fp, "unknown field %q; %s takes no fields (write {})", p.key.Value, path[strings.LastIndexByte(path, '.')+1:])
				continue
			}
			d.errorAt(p.key, fp, "unknown field %q%s; allowed: %s", p.key.Value, didYouMean(p.key.Value, names), strings.Join(names, ", "))
			continue
		}
		d.keys[fp] = p.key
		d.decode(p.value, fp, v.Field(i))
	}
}

// mapping decodes a YAML mapping into a map[string]V.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorAt(n, path, "want a mapping of names, got %s", describe(n))
		return
	}
	t := v.Type()
	m := reflect.MakeMap(t)
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.key.Value)
		d.keys[fp] = p.key
		e := reflect.New(t.Elem()).Elem()
		d.decode(p.value, fp, e)
		m.SetMapIndex(reflect.ValueOf(p.key.Value), e)
	}
	v.Set(m)
}
