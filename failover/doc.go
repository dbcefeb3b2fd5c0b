// Package failover rebuilds server groups the immutable way: it replaces each server with
// a new one booted from the target image, checks the replacement's health, moves the
// slot's failover address (a floating IP) to it with a revision-checked Neutron update,
// verifies traffic through the address, and only then retires the old server.
//
// The use cases, what the CLI (and later the daemon) call, each one function holding the
// group's lease (internal/lease) while it changes anything:
//   - rebuild.go: Rebuild (retire expired kept servers, resume an unfinished rollout,
//     refuse unadopted servers, delete old orphans, resolve the target, plan, run),
//     RollbackGroup and AdoptGroup; lease.go: the Leaser they take the lease from;
//   - target.go: ResolveTarget, the image a rebuild moves to (catalog lookups behind the
//     Catalog and ImageReader interfaces); bad input is a BadRequestError;
//   - orphans.go: Orphans, servers tagged with the group that nothing records or keeps.
//
// The work is split the way it reads:
//   - spec.go: the group as failover sees it (a manifest group with defaults applied);
//   - math.go: surge, unavailability and wave arithmetic, pure;
//   - plan.go: Plan, a pure function from the group's slots and the target image to an
//     ordered, human-annotated list of steps (what `remint plan` and --dry-run print);
//   - executor.go: Options and NewExecutor, and the Executor's plumbing (retries of
//     one cloud call, waits, the test crash hook);
//   - prepare.go: Plan (what would happen), Prepare (record a rollout, allocate its
//     addresses) and Current (what each slot runs now);
//   - execute.go: the scheduler. Run drives each slot's persisted state machine to its
//     end. Rolling plans run as a sliding window over the plan's order (a slot starts as
//     soon as a surge or unavailability token frees, so the plan's waves are the budget,
//     not barriers, and a slot's budget frees once its old server left service);
//     blue/green, and rolling with a bake, run wave by wave. Slots beyond a lowered
//     count are removed last. advance dispatches a slot's state to its step:
//   - step_create.go: create the replacement (named, tagged, recorded first);
//   - step_boot.go: wait for it to be ACTIVE, through watch.go's one batched poll per
//     rollout (GET /servers/detail with changes-since, paced by the boots seen);
//   - step_check.go: health checks on its fixed IP;
//   - step_move.go: the address move: read, revision-checked update, re-read on conflict;
//   - step_verify.go: the gate through the moved address, then the slot records the
//     replacement and the old server's fate is decided (kept, retired, already gone);
//   - step_bake.go: the bake: a wave's new servers watched through their addresses (and
//     the alarm gate) before the next wave; a failure rolls the wave (or all) back;
//   - step_retire.go: delete the old server, after the soak or first (max unavailable);
//   - step_remove.go: a slot beyond a lowered count: address off (kept or released),
//     slot forgotten, server deleted (after keep_old);
//   - alarm.go: the alarm gate (a Prometheus query under a maximum);
//   - step_cleanup.go: a failed step's undo: address back, replacement deleted;
//   - state.go: the step states, the State interface of the store operations failover
//     calls, and the write-ahead transition;
//   - resume.go: picks up an unfinished rollout after a crash, adopting or deleting servers
//     found by their remint_rollout tag;
//   - rollback.go: moves addresses back to the servers kept for rollback, and retires
//     kept servers whose keep-old time is over (RetireExpired, run by the next rebuild);
//   - adopt.go: takes existing servers into a group's slots;
//   - addresses.go: resolving and allocating failover addresses (recorded, never twice);
//   - health_check.go: the probes of replacements and the HTTP gate through the failover
//     address (internal/health's HTTP probe, plus "the replacement answered");
//   - events.go: the typed progress events the CLI prints, and their event log.
//
// Write-ahead: a step's state is stored before the cloud call it leads to; replacements
// carry remint_group, remint_slot, remint_rollout and remint_image_version metadata, so a
// server created just before a crash is found by its tags and adopted (or, if it is a
// duplicate, deleted). A server losing its address is drained (Options.Drain) before it
// is deleted.
//
// The cloud is reached only through small interfaces declared by the steps that call
// them (listed in cloud.go), which *openstack.Client satisfies; the state only through
// State (state.go), which *store.Store satisfies. Entry points: Rebuild, RollbackGroup,
// AdoptGroup; underneath them MakePlan, NewExecutor, Executor.Run.
package failover
