package orchestrator

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// The default update policy starts each target's weekly run at its own time inside the
// weekend, so a fleet does not patch all at once: a start between Saturday 00:00 and
// Sunday 20:00 (weekendSpan), on a 5-minute grid, chosen by a hash of the target's id.
// The same target always gets the same time; a 4h window then ends by Monday 00:00.
const (
	weekendSpan     = 44 * time.Hour
	weekendStep     = 5 * time.Minute
	DefaultWindow   = 4 * time.Hour
	defaultPolicyID = "default"
)

// defaultSaturday is the DTSTART date of default rules: a Saturday, fixed so the rule
// text never changes. Re-anchoring makes its age free.
var defaultSaturday = time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)

// UpdatePolicy is a named rule and window that targets follow (the STACKIT Server Update
// API's update policy: id, name, description, rrule, maintenanceWindow in hours, default,
// enabled).
type UpdatePolicy struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	Description       string `json:"description"`
	RRule             string `json:"rrule"`
	MaintenanceWindow int    `json:"maintenanceWindow"` // hours, 1 to 24
	Default           bool   `json:"default"`
	Enabled           bool   `json:"enabled"`
}

// Window is the policy's maintenance window as a duration.
func (p UpdatePolicy) Window() time.Duration { return time.Duration(p.MaintenanceWindow) * time.Hour }

// Schedule parses the policy's rule with its window.
func (p UpdatePolicy) Schedule() (*Schedule, error) { return ParseSchedule(p.RRule, p.Window()) }

// DefaultPolicy is the default update policy for target (a group name or a server id),
// weekly in zone (nil for UTC): a start inside the weekend that depends only on target.
// The rule is an ordinary rrule string, stored and displayed like any other; on the
// Sunday a DST change skips an hour, a start in the skipped hour runs an hour later,
// once.
func DefaultPolicy(target string, zone *time.Location) UpdatePolicy {
	if zone == nil {
		zone = time.UTC
	}
	sum := sha256.Sum256([]byte(target))
	slots := uint64(weekendSpan / weekendStep)
	offset := time.Duration(binary.BigEndian.Uint64(sum[:8])%slots) * weekendStep
	start := defaultSaturday.Add(offset) // wall-clock time, read in zone below
	day := "SA"
	if start.Weekday() == time.Sunday {
		day = "SU"
	}
	var dtstart string
	if zone == time.UTC {
		dtstart = "DTSTART:" + start.Format("20060102T150405Z")
	} else {
		dtstart = "DTSTART;TZID=" + zone.String() + ":" + start.Format("20060102T150405")
	}
	return UpdatePolicy{
		ID:   defaultPolicyID,
		Name: "default",
		Description: fmt.Sprintf("weekly, %s %s %s, %dh window: a start inside the weekend chosen by target, so a fleet does not patch at once",
			start.Weekday(), start.Format("15:04"), zone, int(DefaultWindow/time.Hour)),
		RRule:             dtstart + " RRULE:FREQ=WEEKLY;BYDAY=" + day,
		MaintenanceWindow: int(DefaultWindow / time.Hour),
		Default:           true,
		Enabled:           true,
	}
}
