// Package catalog owns image versions and their lifecycle: candidate → active →
// deprecated → retired, and revoked. The catalog is stored in the cloud itself, as Glance
// image properties (remint_family, remint_version, remint_state, …) and the tag "remint",
// so the cloud stays the source of truth and any tool can read it.
//
// Rules are pure (version.go, lifecycle.go); Catalog (catalog.go) applies them through the
// few Glance calls it needs. Entry point: New.
package catalog
