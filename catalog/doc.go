// Package catalog owns image versions and their lifecycle: candidate → active →
// deprecated → retired, and revoked. The catalog is stored in the cloud itself, as Glance
// image properties (remint_family, remint_version, remint_state, …) and the tag "remint",
// so the cloud stays the source of truth and any tool can read it.
//
// A built image enters as a candidate (AddCandidate, with its build record: source image,
// build time, the installed package list compressed into remint_packages_NN properties
// and checked against remint_packages_digest), gets its verification result
// (MarkVerification) and becomes active by Promote; an operator may promote a candidate
// on their own word (PromoteVersion). Register makes an image active at once.
//
// Rules are pure (version.go, lifecycle.go); Catalog (catalog.go, candidate.go) applies
// them through the few Glance calls it needs. Entry point: New.
package catalog
