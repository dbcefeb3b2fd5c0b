// Package orchestrator decides what remint does to each target and when: the rebuild-first
// policy that chooses rebuild or in-place (and says why), and the schedules that fire
// actions inside maintenance windows; and it runs that work as durable jobs, in the
// daemon. The policy and schedules are pure and take `now` as an argument; the daemon
// takes a clock, and the CLI wiring (which use case a kind runs) lives in cmd/remint.
//
// The work is split the way it reads:
//   - policy.go: Decide, a pure function from a target's facts (replaceable? active image?
//     failover addresses? quota for the surge?) and the operator's request to a Decision
//     with its reason; policy_print.go renders decisions for --dry-run and golden files;
//   - facts.go: the cloud facts the policy needs (compute quota, flavor size), read
//     through a small interface *openstack.Client satisfies, and the surge a failover
//     plan needs;
//   - schedule.go: Schedule, an RFC 5545 rule (manifest.ParseRRule) with a maintenance
//     window of 1 to 24 hours, and its runs;
//   - schedule_anchor.go: re-anchoring DTSTART on the rule's own period grid, so that the
//     next run of a rule started years ago costs a few periods, not years of them;
//   - schedule_window.go: the rules of a run's life: catch up at most one missed run whose
//     window is still open, no new disruptive step after the window closes, no two runs
//     on one target at once;
//   - schedule_default.go: the default update policy, a per-target stable start inside a
//     weekend window, rendered as an ordinary rrule;
//   - jobs.go, jobs_work.go: durable jobs on River in the state database (SQLite, or
//     PostgreSQL for several daemons): a registry of kinds, one unfinished job per
//     target, the record users read (counts, reasons, decisions, event log), and the
//     rescue of a job whose daemon died (its attempt lease expired);
//   - job_kinds.go: the kinds on main (rebuild, retire-kept, image-retention,
//     build-image); in-place, deploy and emergency register theirs the same way;
//   - daemon.go: what `remint serve` runs each tick (rescue, schedules with catch-up and
//     admission, keep-old retirement); api.go and client.go: the job API and its client.
//
// Entry points: Decide (with ReadQuota, ReadSurge, SurgeServers for its facts, ForceOf and
// OptionsOf for a manifest schedule's request), ParseSchedule, Schedule.Next,
// Schedule.CatchUp, CheckStep, Admit, DefaultPolicy; NewQueue, Daemon.Run, APIHandler.
package orchestrator
