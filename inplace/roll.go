package inplace

// Roll is the pure rolling plan of a run across servers: which server may start next.
// At most concurrency servers are in progress; once more servers have failed than the
// budget allows, no new server starts (those in progress finish). It does no I/O and
// reads no clock.
type Roll struct {
	total, concurrency, allowed int
	next                        int
	running, failed, succeeded  int
}

// NewRoll plans a roll over total servers.
func NewRoll(total, concurrency int, budget Budget) *Roll {
	if concurrency < 1 {
		concurrency = 1
	}
	return &Roll{total: total, concurrency: concurrency, allowed: budget.Allowed(total)}
}

// Next returns the index of the next server to start and true, or false when none may
// start now (concurrency reached, budget spent, or none left).
func (r *Roll) Next() (int, bool) {
	if r.Exhausted() || r.running >= r.concurrency || r.next >= r.total {
		return 0, false
	}
	i := r.next
	r.next++
	r.running++
	return i, true
}

// Finish records that a started server ended.
func (r *Roll) Finish(ok bool) {
	r.running--
	if ok {
		r.succeeded++
	} else {
		r.failed++
	}
}

// Peek is the index Next would return (or total when none is left).
func (r *Roll) Peek() int { return r.next }

// Skip passes over the server Peek names, which needs no work (it succeeded in the run
// being resumed): it counts as a success without taking a slot.
func (r *Roll) Skip() {
	r.next++
	r.succeeded++
}

// Pass passes over the server Peek names without starting it (the maintenance window
// closed): it stays not started.
func (r *Roll) Pass() { r.next++ }

// Exhausted says the error budget is spent: more servers failed than allowed.
func (r *Roll) Exhausted() bool { return r.failed > r.allowed }

// Done says nothing is running and nothing more will start.
func (r *Roll) Done() bool {
	return r.running == 0 && (r.next >= r.total || r.Exhausted())
}

// NotStarted is how many servers were never started.
func (r *Roll) NotStarted() int { return r.total - r.next }

// Running is how many servers are in progress.
func (r *Roll) Running() int { return r.running }
