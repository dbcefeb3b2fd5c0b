#!/usr/bin/env bash
# make demo: remint's whole story end to end on the embedded default — the OpenStack-API
# simulator and the SQLite state file — with every step a durable job of a `remint serve`
# daemon the demo starts:
#
#   1. build this month's image: the image pipeline boots a builder, provisions it over SSH
#      (apt upgrades pick up a security fix from the local signed apt repository),
#      snapshots it, verifies a server booted from the snapshot and promotes it;
#   2. rebuild the group web (3 servers behind floating IPs) onto it under client load:
#      0 failed requests;
#   3. upgrade the pet db (replaceable: false) in place: the policy says why, the security
#      upgrade is installed over SSH and the server rebooted because the package asks for it;
#   4. show the job history.
#
# Steps 1 and 3 need real hosts (sshd, apt, a reboot): the simulator's docker driver, where
# servers are containers booted from a Debian base image built once per machine (the
# demo builds it first if needed, and says so). Without a Docker engine the demo runs
# step 2 on the loopback driver (servers are listeners on 127.x addresses), with the new
# image uploaded to Glance the way an external build would, and says what it skipped.
#
# Needs bin/remint (`make build`) and curl; the docker part also root (debootstrap builds the
# base image; the demo installs debootstrap when missing). Runs in a temporary directory,
# on ports and a Docker network of its own (nothing collides with a concurrent `make e2e`);
# everything it started is stopped on exit, Ctrl-C included.
#
#   REMINT=path              the binary (default bin/remint)
#   REMINT_DEMO_DRIVER=X     docker or loopback instead of choosing by whether Docker runs
#   REMINT_DEMO_KEEP=1       keep the directory (state, logs, clouds.yaml) afterwards
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${REMINT:-$root/bin/remint}
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found: run \`make build\` first" >&2
  exit 1
fi

# apt_install installs Debian packages as root, or names them and fails.
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "demo: needs $*: sudo apt-get install -y $*" >&2
    return 1
  fi
  echo "demo: installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v curl >/dev/null 2>&1 || apt_install curl

dir=$(mktemp -d "${TMPDIR:-/tmp}/remint-demo.XXXXXX")
sim_pid="" serve_pid="" load_pid="" ok=0 interrupted=0

# stop sends SIGTERM to a process the demo started and waits up to $2 seconds for it.
stop() {
  local pid=$1 secs=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# docker_leftovers removes what a simulator that had to be killed left in Docker: its
# containers, snapshot images and network, all labelled with its instance id.
docker_leftovers() {
  local inst
  inst=$(grep -o 'instance=[0-9a-f]*' "$dir/sim.log" 2>/dev/null | head -n 1 | cut -d= -f2)
  [ -n "$inst" ] || return 0
  if ! command -v docker >/dev/null 2>&1; then
    echo "demo: remove the simulator's containers by hand: label remint.sim=$inst, network remint-sim-$inst" >&2
    return 0
  fi
  docker ps -aq --filter "label=remint.sim=$inst" | xargs -r docker rm -f >/dev/null
  docker images -q --filter "label=remint.sim=$inst" | xargs -r docker rmi -f >/dev/null
  docker network rm "remint-sim-$inst" >/dev/null 2>&1
  echo "demo: removed the containers and network of simulator instance $inst" >&2
}

cleanup() {
  local rc=$?
  set +e
  trap - INT TERM
  [ -n "$load_pid" ] && stop "$load_pid" 5
  [ -n "$serve_pid" ] && stop "$serve_pid" 30
  if [ -n "$sim_pid" ]; then
    # SIGTERM: the simulator deletes every server (container) and its network on the way out.
    stop "$sim_pid" 120 || docker_leftovers
  fi
  if [ "$interrupted" = 1 ]; then
    rc=130
    echo >&2
    echo "demo interrupted: everything it started is stopped" >&2
    if [ "${REMINT_DEMO_KEEP:-}" = 1 ]; then echo "files kept in $dir" >&2; else rm -rf "$dir"; fi
  elif [ "$ok" != 1 ]; then
    [ "$rc" = 0 ] && rc=1
    echo >&2
    echo "demo FAILED (exit $rc)" >&2
    for f in sim.log serve.log; do
      [ -s "$dir/$f" ] || continue
      echo "--- $f (last lines)" >&2
      tail -n 15 "$dir/$f" >&2
    done
    echo "files kept in $dir" >&2
  elif [ "${REMINT_DEMO_KEEP:-}" = 1 ]; then
    echo "files kept in $dir"
  else
    rm -rf "$dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT TERM

step=0
header() {
  step=$((step + 1))
  printf '\n== %d. %s\n' "$step" "$*"
}
scene() { printf '\n== %s\n' "$*"; }
# show prints a command the way a user would type it, then runs it.
show() {
  printf '$ %s\n' "$*"
  "$@"
}
remint() { "$bin" --log-level warn "$@"; }
fail() {
  echo "demo: $*" >&2
  exit 1
}
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ---------------------------------------------------------------------------------------
# Which driver: docker where an engine answers and its base image can be had.

# docker_engine succeeds when a Docker engine answers; otherwise it sets skip_reason.
docker_engine() {
  if [ -n "${DOCKER_HOST:-}" ]; then
    command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1 && return 0
    skip_reason="no Docker engine answers at DOCKER_HOST=$DOCKER_HOST"
  elif [ ! -S /var/run/docker.sock ]; then
    skip_reason="no Docker engine runs (/var/run/docker.sock is missing and DOCKER_HOST is unset)"
  elif [ ! -w /var/run/docker.sock ]; then
    skip_reason="user $(id -un) cannot use the Docker engine (/var/run/docker.sock is for root and the docker group)"
  elif curl -sf --max-time 5 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
    return 0
  else
    skip_reason="the Docker engine at /var/run/docker.sock does not answer"
  fi
  return 1
}

driver=${REMINT_DEMO_DRIVER:-}
skip_reason=""
case "$driver" in
  docker | loopback) ;;
  "")
    driver=loopback
    if docker_engine; then driver=docker; fi
    ;;
  *)
    echo "demo: REMINT_DEMO_DRIVER=$driver: want docker or loopback" >&2
    exit 2
    ;;
esac

base_secs=0 base_note=""
if [ "$driver" = docker ]; then
  scene "0. one-time: the docker driver's Debian base image (built once per machine, then cached; not part of the demo's time)"
  if ! command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt_install debootstrap
  fi
  base_start=$SECONDS
  printf '$ remint sim build-base\n'
  if "$bin" --log-level warn sim build-base --workload-binary "$bin" >"$dir/base.log" 2>&1; then
    cat "$dir/base.log"
    base_secs=$((SECONDS - base_start))
    base_note="one-time base image $(elapsed "$base_secs"), not counted"
    grep -q 'is already built' "$dir/base.log" && base_note="base image cached"
  elif [ -n "${REMINT_DEMO_DRIVER:-}" ]; then
    cat "$dir/base.log" >&2
    fail "REMINT_DEMO_DRIVER=docker, but the base image could not be built (above)"
  else
    cat "$dir/base.log"
    driver=loopback
    skip_reason="the docker driver's base image could not be built (above; it needs root and debootstrap once)"
  fi
fi

start=$SECONDS
cd "$dir"
echo
if [ "$driver" = docker ]; then
  echo "remint demo on the docker driver: every server is a container with sshd, apt and the workload"
  echo "(a real host); state in SQLite (./remint.db); every step is a durable job of a remint serve daemon."
else
  echo "remint demo on the loopback driver: servers are real listeners on 127.x addresses, floating IPs"
  echo "forward to them; state in SQLite (./remint.db); every step is a durable job of a remint serve daemon."
  echo
  echo "SKIPPING steps 1 (build the image: a builder provisioned over SSH with apt) and 3 (upgrade the"
  echo "db pet in place over SSH, with a reboot): they need real hosts, i.e. the docker driver, and here"
  echo "${skip_reason:-REMINT_DEMO_DRIVER=loopback was asked for}."
  echo "Step 2 runs with an image uploaded to Glance the way an external build would."
fi

# ---------------------------------------------------------------------------------------
scene "setting the scene: the simulator, the manifest, the daemon, last month's fleet"

"$bin" sim --driver "$driver" --seed --write-clouds-yaml "$dir/clouds.yaml" --state-dir "$dir/sim" >"$dir/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1200); do # up to 2 minutes; the clouds.yaml appears (atomically) once the cloud is ready
  [ -s "$dir/clouds.yaml" ] && break
  kill -0 "$sim_pid" 2>/dev/null || fail "the simulator exited"
  sleep 0.1
done
[ -s "$dir/clouds.yaml" ] || fail "the simulator was not ready within 2 minutes"
grep -E '^(remint sim|seeded)' "$dir/sim.log"
export OS_CLIENT_CONFIG_FILE="$dir/clouds.yaml" REMINT_SSH_KEY="$dir/remint-sim-key"
unset OS_CLOUD REMINT_SERVER REMINT_TOKEN REMINT_CA_CERT

# The example manifest, without its schedules (a weekend run of the example's own
# rebuild schedule would fire in the middle of the demo). On real hosts the family also
# installs demo-libssl, the demo repository's stand-in for libssl3, and web replaces its
# three slots at once (max_surge 3) instead of one after the other: a container takes
# 7-20 seconds to boot and pass its health checks, and the demo keeps to about 3 minutes.
sed '/^schedules:/,$d' "$root/examples/remint.yaml" >"$dir/remint.yaml"
if [ "$driver" = docker ]; then
  sed -i -e 's/^        - ca-certificates$/&\n        - demo-libssl/' \
    -e 's/^      max_surge: 1 # extra servers at a time$/      max_surge: 3/' "$dir/remint.yaml"
  grep -q '^        - demo-libssl$' "$dir/remint.yaml" || fail "could not add demo-libssl to the family's packages in the manifest"
  grep -q '^      max_surge: 3$' "$dir/remint.yaml" || fail "could not set web's max_surge to 3 in the manifest"
  echo "manifest: examples/remint.yaml without its schedules; demo-libssl added to debian-12's packages,"
  echo "web's rollout.max_surge 3 (all three slots at once) instead of 1"
  echo "  (family debian-12; group web: 3 servers, one floating IP each; group db: 1 pet, replaceable: false)"
  echo
  show remint sim publish-package --repo-dir sim/apt --suite bookworm --name demo-libssl --version 1.0-1
else
  echo "manifest: examples/remint.yaml without its schedules (family debian-12; group web: 3 servers, one floating IP each)"
fi

# The daemon's API answers bearer tokens only: one for the demo, kept in the environment
# (remint job … --server sends $REMINT_TOKEN) and never printed.
REMINT_TOKEN=$(remint token create --name demo --output secret) || fail "remint token create failed"
export REMINT_TOKEN
"$bin" serve --listen 127.0.0.1:0 >"$dir/serve.out" 2>"$dir/serve.log" &
serve_pid=$!
for _ in $(seq 300); do
  grep -q 'listening on' "$dir/serve.out" 2>/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || fail "remint serve exited"
  sleep 0.1
done
REMINT_SERVER=$(sed -n 's/^remint serve: listening on //p' "$dir/serve.out")
[ -n "$REMINT_SERVER" ] || fail "remint serve did not start within 30s"
export REMINT_SERVER
echo
echo "remint serve: the daemon, on $REMINT_SERVER (jobs in ./remint.db beside the manifest)"
echo "export REMINT_SERVER=$REMINT_SERVER   # remint job … acts through the daemon"
echo "export REMINT_TOKEN=\$(remint token create --name demo --output secret)   # its API wants a bearer token"

# idle waits until the daemon has no job queued or running (its own, such as the image
# retention it queues at start): one job at a time per target.
idle() {
  local i
  for ((i = 0; i < 600; i++)); do
    remint job list -o json | grep -qE '"status": *"(queued|running)"' || return 0
    sleep 0.1
  done
  fail "the daemon's jobs did not finish within a minute: $(remint job list)"
}

# submit queues a job (remint job submit ARGS…) and prints its id.
submit() {
  local out
  idle
  printf '$ remint job submit %s\n' "$*" >&2
  out=$(remint job submit "$@") || return 1
  sed -n 's/^job \([0-9]*\): .*/\1/p' <<<"$out" | head -n 1
}

# event prints one line of a job's event log, shorter: the time, and the message without
# the steps' start lines and the rollouts' intermediate phases.
event() {
  local re='^ *[0-9-]+ ([0-9:]+) +#[0-9]+ +(info +)?(.*)$' t msg
  if ! [[ $1 =~ $re ]]; then
    printf '  %s\n' "$1"
    return
  fi
  t=${BASH_REMATCH[1]} msg=${BASH_REMATCH[3]}
  case "$msg" in
    *": start" | "queued: "* | "succeeded: "*) return ;;
    [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9]*" "*)
      # a rollout's event carries its own time; creating, booting, checking and gating are
      # the steps in between that the others tell well enough
      case "$msg" in *" creating "* | *" booting "* | *" checking "* | *" gating "*) return ;; esac
      printf '  %s\n' "$msg"
      ;;
    *) printf '  %s  %s\n' "$t" "$msg" ;;
  esac
}

# follow prints job $1's events as they happen until it ends; fails unless it succeeded.
follow() {
  local id=$1 printed=0 out status started=$SECONDS k
  local -a lines
  while :; do
    out=$(remint job show "$id") || return 1
    status=$(head -n 1 <<<"$out" | sed -n 's/.* — \([a-z]*\) (attempt.*/\1/p')
    mapfile -t lines < <(sed -n '/^events:$/,$p' <<<"$out" | tail -n +2)
    for ((k = printed; k < ${#lines[@]}; k++)); do event "${lines[k]}"; done
    printed=${#lines[@]}
    case "$status" in
      succeeded)
        echo "job $id succeeded after $((SECONDS - started))s"
        return 0
        ;;
      failed | cancelled)
        echo "job $id $status:" >&2
        sed -n 's/^  reason: /  /p' <<<"$out" >&2
        return 1
        ;;
    esac
    if ((SECONDS - started > 600)); then
      echo "job $id still $status after 10 minutes" >&2
      return 1
    fi
    sleep 0.5
  done
}

# version prints the family's latest active version.
latest() { remint image show debian-12 latest -o json | sed -n 's/^  "version": *"\([^"]*\)".*/\1/p'; }

# addresses prints the failover addresses of group web, one per line, in slot order.
addresses() {
  remint group show web --output json | grep -o '"address": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

# slots prints "web-N ADDRESS SERVER_NAME IMAGE_VERSION" per slot of group web, from the
# one-field-per-line JSON of `remint group show --output json`.
slots() {
  remint group show web --output json | awk -F'"' '
    $2 == "slot" { split($3, v, /[:, ]+/); slot = v[2] }
    $2 == "server_name" { name = $4 }
    $2 == "image_version" { version = $4 }
    $2 == "address" { print "web-" slot, $4, name, version }'
}

# The plain OpenStack APIs, as any tool (Terraform, the openstack CLI, a build pipeline)
# uses them: a Keystone token and the catalog. Secrets stay out of argv: curl reads them
# from files.
yaml() { sed -n "s/^ *$1: *//p" "$dir/clouds.yaml" | head -n 1; }
umask 077
printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"name":"Default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"name":"Default"}}}}}' \
  "$(yaml username)" "$(yaml password)" "$(yaml project_name)" >"$dir/auth.json"
curl -sSf -o "$dir/token.json" -D "$dir/token.headers" -H 'Content-Type: application/json' \
  --data-binary @"$dir/auth.json" "$(yaml auth_url)/auth/tokens"
printf 'X-Auth-Token: %s\n' "$(sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p' "$dir/token.headers" | tr -d '\r')" >"$dir/auth.headers"
endpoint() { grep -o "\"url\": *\"[^\"]*/$1\"" "$dir/token.json" | head -n 1 | sed 's/.*"\(http[^"]*\)"$/\1/'; }
first_id() { grep -o '"id": *"[^"]*"' "$1" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/'; }
api() { curl -sSf -H @"$dir/auth.headers" -H 'Content-Type: application/json' "$@"; }

echo
if [ "$driver" = docker ]; then
  echo "last month's image: the pipeline builds debian-12 with demo-libssl 1.0-1"
  id=$(submit build-image debian-12)
  follow "$id" >"$dir/job-$id.txt" || { cat "$dir/job-$id.txt"; fail "the first image build failed"; }
  tail -n 1 "$dir/job-$id.txt"
else
  echo "last month's image: the seeded debian-12 image, registered as the family's first version"
  show remint image register debian-12 debian-12
fi
old_version=$(latest)
echo
echo "web, first deploy from $old_version: 3 servers, 3 floating IPs allocated"
id=$(submit rebuild web)
if [ "$driver" = docker ]; then
  # Meanwhile the pet, made by hand long ago through Nova's API: remint never rebuilds it.
  compute=$(endpoint 'compute/v2.1')
  network=$(endpoint network)
  if [ -z "$compute" ] || [ -z "$network" ]; then
    fail "no compute or network service in the token's catalog"
  fi
  api -o "$dir/net.json" "$network/v2.0/networks?name=private"
  image_id=$(remint image show debian-12 "$old_version" -o json | sed -n 's/^  "image_id": *"\([^"]*\)".*/\1/p')
  printf '{"server":{"name":"db-0","imageRef":"%s","flavorRef":"2","networks":[{"uuid":"%s"}],"key_name":"remint","metadata":{"role":"db"}}}' \
    "$image_id" "$(first_id "$dir/net.json")" >"$dir/db.json"
  api -o "$dir/db.created.json" --data-binary @"$dir/db.json" "$compute/servers"
  db_id=$(first_id "$dir/db.created.json")
fi
follow "$id" >"$dir/job-$id.txt" || { cat "$dir/job-$id.txt"; fail "the first deploy of web failed"; }
tail -n 1 "$dir/job-$id.txt"
mapfile -t addrs < <(addresses)
[ "${#addrs[@]}" = 3 ] || fail "expected 3 failover addresses, got ${#addrs[@]}"
urls=()
for a in "${addrs[@]}"; do urls+=("http://$a:8080/"); done
echo "web answers at ${addrs[*]} (port 8080)"

if [ "$driver" = docker ]; then
  for _ in $(seq 240); do
    api -o "$dir/db.server.json" "$compute/servers/$db_id"
    grep -q '"status": *"ACTIVE"' "$dir/db.server.json" && break
    grep -q '"status": *"ERROR"' "$dir/db.server.json" && fail "server db-0 went to ERROR"
    sleep 0.5
  done
  grep -q '"status": *"ACTIVE"' "$dir/db.server.json" || fail "server db-0 was not ACTIVE within 2 minutes"
  echo
  echo "db, the pet: server db-0, created by hand from $old_version through Nova's API (POST /servers), ACTIVE"
  show remint group adopt db
  echo
  echo "then a security fix lands: demo-libssl 1.0-1+deb12u1 in bookworm-security (its postinst asks for a reboot, as libc6's does)"
  show remint sim publish-package --repo-dir sim/apt --suite bookworm-security --name demo-libssl --version 1.0-1+deb12u1 \
    --postinst-reboot-required
fi
scene_secs=$((SECONDS - start))

# ---------------------------------------------------------------------------------------
if [ "$driver" = docker ]; then
  header "build this month's image (real hosts: a builder provisioned over SSH with apt, snapshotted, verified, promoted)"
  id=$(submit build-image debian-12)
  follow "$id"
  new_version=$(latest)
  [ "$new_version" != "$old_version" ] || fail "the build published no new version (latest is still $old_version)"
  echo
  show remint image list debian-12
  echo
  show remint image diff debian-12 "$old_version" "$new_version" | tee "$dir/diff.txt"
  grep -q 'upgraded demo-libssl 1.0-1 → 1.0-1+deb12u1 (security' "$dir/diff.txt" ||
    fail "the new image does not have the security fix of demo-libssl"
else
  header "SKIPPED: build this month's image (needs real hosts); instead an external build uploads one to Glance"
  # What a build pipeline (Packer, diskimage-builder) does at its end, through the plain
  # OpenStack APIs: Glance's create-image and upload-data calls. The loopback driver boots
  # an image by its properties, not its bits, so the upload is a short note saying so.
  glance=$(endpoint image)
  [ -n "$glance" ] || fail "no image service in the token's catalog"
  new_name="debian-12-build-$(date -u +%Y%m%d%H%M)"
  printf '{"name":"%s","disk_format":"raw","container_format":"bare","os_distro":"debian","os_version":"12"}' "$new_name" >"$dir/image.json"
  api -o "$dir/image.created.json" --data-binary @"$dir/image.json" "$glance/v2/images"
  new_id=$(first_id "$dir/image.created.json")
  printf 'remint demo: image %s, built %s\n' "$new_name" "$(date -u +%FT%TZ)" >"$dir/image.raw"
  curl -sSf -X PUT -H @"$dir/auth.headers" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$dir/image.raw" "$glance/v2/images/$new_id/file"
  echo "glance: image $new_name ($new_id) created and uploaded: active"
  show remint image register debian-12 "$new_id"
  new_version=$(latest)
  show remint image list debian-12
fi

# ---------------------------------------------------------------------------------------
header "rebuild web onto $new_version under load: 4 clients keep requesting every address throughout"
slots >"$dir/slots.before"
stop_file="$dir/load.stop"
remint loadgen --until-file "$stop_file" --duration 10m "${urls[@]}" >"$dir/load.txt" 2>&1 &
load_pid=$!
sleep 1 # let the clients see the old servers first
id=$(submit update web)
follow "$id"
sleep 2 # and the new ones after the last move
touch "$stop_file"
load_rc=0
wait "$load_pid" || load_rc=$?
load_pid=""
echo
echo "failed requests, and who answered at each address, from when to when:"
cat "$dir/load.txt"
slots >"$dir/slots.after"
echo
echo "before and after, per slot (the old servers are kept for rollback until keep_old ends):"
printf '  %-6s %-14s %-32s %s\n' SLOT ADDRESS BEFORE AFTER
paste -d ' ' "$dir/slots.before" "$dir/slots.after" | while read -r slot addr old_name old_v _ _ new_name new_v; do
  printf '  %-6s %-14s %-32s %s\n' "$slot" "$addr" "$old_name ($old_v)" "$new_name ($new_v)"
done
[ "$load_rc" = 0 ] || fail "requests failed during the rebuild (loadgen exit $load_rc)"
if awk -v v="$new_version" '$4 != v' "$dir/slots.after" | grep -q .; then
  fail "not every slot of web is on $new_version"
fi

# ---------------------------------------------------------------------------------------
if [ "$driver" = docker ]; then
  header "upgrade the db pet in place (real hosts: apt over SSH, reboot through the cloud)"
  # on_db runs a command on db-0 over SSH (host key checked against its console log).
  on_db() { remint ssh db-0 -- sh -c "$1"; }
  # shellcheck disable=SC2016 # expanded on db-0, not here
  facts='dpkg-query -W -f "\${Package} \${Version}" demo-libssl; echo ", up since $(ps -o lstart= -p 1)"'
  printf '$ remint ssh db-0 -- dpkg-query …; ps -o lstart= -p 1\n'
  before=$(on_db "$facts")
  echo "db-0: $before"
  echo
  # A dry run plans here, not through the daemon (its jobs have no dry run): --server ''
  # overrides the exported $REMINT_SERVER.
  printf "\$ remint inplace db --dry-run --server ''\n"
  remint inplace db --dry-run --server '' | grep -v '^summary:'
  echo
  id=$(submit update db --apply-security-upgrades --reboot-if-required)
  follow "$id"
  echo
  printf '$ remint ssh db-0 -- dpkg-query …; ps -o lstart= -p 1\n'
  after=$(on_db "$facts")
  echo "db-0: $after"
  echo
  echo "db-0 before: $before"
  echo "db-0 after:  $after"
  case "$after" in "demo-libssl 1.0-1+deb12u1, "*) ;; *) fail "demo-libssl on db-0 is not 1.0-1+deb12u1 after the upgrade" ;; esac
  [ "${before#*up since }" != "${after#*up since }" ] || fail "db-0 was not rebooted (its init started at the same time as before)"
else
  header "SKIPPED: upgrade the db pet in place (needs real hosts: apt over SSH and a reboot)"
  echo "run the demo where a Docker engine runs (as root, once for the base image) to see it"
fi

# ---------------------------------------------------------------------------------------
header "the job history: every step above, and the daemon's own (retention), with counts and who asked"
show remint job list
remint job list -o json >"$dir/jobs.json"
if grep -q '"status": *"failed"' "$dir/jobs.json"; then
  fail "a job failed (above)"
fi

total=$((SECONDS - start))
echo
if [ "$driver" = docker ]; then
  echo "demo done in $(elapsed "$total") (setting the scene $(elapsed "$scene_secs"); $base_note):"
  echo "debian-12 $new_version built with the security fix, web rebuilt onto it with 0 failed requests,"
  echo "db patched in place (demo-libssl 1.0-1 → 1.0-1+deb12u1) and rebooted, all as durable jobs."
else
  echo "demo done in $(elapsed "$total"), loopback only: web rebuilt onto $new_version with 0 failed requests."
  echo "Steps 1 and 3 were SKIPPED: ${skip_reason:-REMINT_DEMO_DRIVER=loopback}."
fi
ok=1
