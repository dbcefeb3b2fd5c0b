package catalog

import "fmt"

// State is where an image is in its lifecycle.
type State string

const (
	// Candidate images are built but not yet verified by booting them.
	Candidate State = "candidate"
	// Active is the family's current image; new servers boot from the newest active one.
	Active State = "active"
	// Deprecated images were active; servers may still run them, rollbacks may use them.
	Deprecated State = "deprecated"
	// Retired images are beyond retention: hidden, and deleted once no server uses them.
	Retired State = "retired"
	// Revoked images are known bad: deactivated at once, never booted again.
	Revoked State = "revoked"
)

// transitions lists, for each state, the states it may move to. deprecated → active is
// the re-pointing of "latest" when a newer image is revoked.
var transitions = map[State][]State{
	Candidate:  {Active, Revoked, Retired},
	Active:     {Deprecated, Revoked},
	Deprecated: {Active, Retired, Revoked},
	Retired:    {},
	Revoked:    {},
}

// CanTransition reports whether an image may move from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func checkTransition(img string, from, to State) error {
	if !CanTransition(from, to) {
		return fmt.Errorf("image %s: cannot go from %s to %s", img, from, to)
	}
	return nil
}

// Bootable reports whether servers may be created from an image in state s.
func (s State) Bootable() bool { return s == Active || s == Deprecated || s == Candidate }

func parseState(s string) (State, bool) {
	switch st := State(s); st {
	case Candidate, Active, Deprecated, Retired, Revoked:
		return st, true
	}
	return "", false
}
