// Package failover rebuilds server groups the immutable way: it replaces each server with
// a new one booted from the target image, checks the replacement's health, moves the
// slot's failover address (a floating IP) to it with a revision-checked Neutron update,
// verifies traffic through the address, and only then retires the old server.
//
// The work is split the way it reads:
//   - spec.go: the group as failover sees it (a manifest group with defaults applied);
//   - math.go: surge, unavailability and wave arithmetic, pure;
//   - plan.go: Plan, a pure function from the group's slots and the target image to an
//     ordered, human-annotated list of steps (what `remint plan` and --dry-run print);
//   - execute.go: Executor runs a plan as a persisted state machine, one per slot, writing
//     every transition to the store before the cloud call it leads to. Rolling plans run
//     as a sliding window over the plan's order (a slot starts as soon as a surge or
//     unavailability token frees, so the plan's waves are the budget, not barriers);
//     blue/green runs its one wave with a barrier before any address moves;
//   - resume.go: picks up an unfinished rollout after a crash, adopting or deleting servers
//     found by their remint_rollout tag;
//   - rollback.go: moves addresses back to the servers kept for rollback, and retires
//     kept servers whose keep-old time is over (RetireExpired, run by the next rebuild);
//   - adopt.go: takes existing servers into a group's slots;
//   - addresses.go: resolving and allocating failover addresses (recorded, never twice);
//   - health_check.go: HTTP and TCP probes of replacements and of the failover address;
//   - events.go: the typed progress events the CLI prints.
//
// Write-ahead: a step's state is stored before the cloud call it leads to; replacements
// carry remint_group, remint_slot, remint_rollout and remint_image_version metadata, so a
// server created just before a crash is found by its tags and adopted (or, if it is a
// duplicate, deleted). A server losing its address is drained (Options.Drain) before it
// is deleted.
//
// The cloud is reached only through the small interfaces in cloud.go, which
// *openstack.Client satisfies. Entry points: MakePlan, NewExecutor, Executor.Run.
package failover
