package inplace

import "fmt"

// RebuildCheck is what decides whether a group should be rebuilt rather than patched in
// place.
type RebuildCheck struct {
	Group       string
	Replaceable bool
	// ActiveImage names the image a rebuild would boot ("debian-12 2026.11.1"), "" when
	// the family has no active image.
	ActiveImage string
}

// RebuildPreferred returns why rebuilding is the better choice for this group, or ""
// when in place is the right tool (a pet, or nothing to rebuild from). Pure.
func RebuildPreferred(c RebuildCheck) string {
	if !c.Replaceable || c.ActiveImage == "" {
		return ""
	}
	return fmt.Sprintf("group %s is replaceable and %s is active: a rebuild replaces its servers with fresh ones from that fully patched image "+
		"and moves traffic only to healthy replacements (no downtime, old servers kept for rollback), while in place costs a reboot's downtime "+
		"and leaves the servers drifting from the image; run `remint rebuild %s`, or pass --force to patch in place anyway",
		c.Group, c.ActiveImage, c.Group)
}
