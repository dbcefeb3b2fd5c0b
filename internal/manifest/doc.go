// Package manifest owns remint.yaml: its schema (types.go), strict loading with precise,
// positioned errors (Load, Parse), defaults (defaults.go) and the rrule parser shared with
// the scheduler (ParseRRule).
//
// Load reads the file as a yaml.Node tree and decodes it field by field, so every problem is
// reported as file:line:column, the field path (groups.web.rollout.max_surge), what is wrong
// and what is allowed. All problems are collected, not only the first, and returned sorted
// by position as Errors. A Manifest returned without error has every default applied;
// the accessor methods (Group.MaxSurge, Group.IsReplaceable, …) resolve defaults too, for
// manifests built in code.
package manifest
