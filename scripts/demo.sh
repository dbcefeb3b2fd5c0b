#!/usr/bin/env bash
# make demo: remint's main job end to end on the embedded default — the OpenStack-API
# simulator with the loopback driver (real servers and floating IPs on 127.x addresses)
# and the SQLite state file.
#
# The story: deploy the example group "web" behind its failover addresses, let an
# external build put a new debian-12 image into Glance and register it as the family's
# new version, rebuild the group under steady client load, and show the failed requests
# (0) and the image behind every slot before and after.
#
# Needs bin/remint (`make build`) and curl. Runs in a temporary directory; everything it
# started is stopped on exit. REMINT=path overrides the binary; REMINT_DEMO_KEEP=1 keeps
# the directory (state, logs, clouds.yaml) for a look afterwards.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${REMINT:-$root/bin/remint}
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found: run \`make build\` first" >&2
  exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "demo: needs curl: sudo apt-get install -y curl" >&2
    exit 1
  fi
  echo "demo: installing curl"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends curl >/dev/null
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/remint-demo.XXXXXX")
sim_pid="" load_pid="" ok=0
cleanup() {
  local rc=$?
  set +e
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
  if [ -n "$sim_pid" ]; then
    kill -TERM "$sim_pid" 2>/dev/null # the simulator deletes every server on the way out
    wait "$sim_pid" 2>/dev/null
  fi
  if [ "$ok" != 1 ]; then
    echo >&2
    echo "demo FAILED (exit $rc); simulator log (last lines):" >&2
    tail -n 20 "$dir/sim.log" >&2 2>/dev/null
    echo "files kept in $dir" >&2
  elif [ "${REMINT_DEMO_KEEP:-}" = 1 ]; then
    echo "files kept in $dir"
  else
    rm -rf "$dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step=0
header() {
  step=$((step + 1))
  printf '\n== %d. %s\n' "$step" "$*"
}
# show prints a command the way a user would type it, then runs it.
show() {
  printf '$ %s\n' "$*"
  "$@"
}
remint() { "$bin" --log-level warn "$@"; }

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

cd "$dir"

header "start the simulator (OpenStack APIs on loopback; servers and floating IPs are real listeners)"
"$bin" sim --seed --write-clouds-yaml "$dir/clouds.yaml" >"$dir/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 300); do # up to 30s; the clouds.yaml appears (atomically) once the cloud is ready
  [ -s "$dir/clouds.yaml" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "demo: the simulator exited" >&2; exit 1; }
  sleep 0.1
done
[ -s "$dir/clouds.yaml" ] || { echo "demo: the simulator was not ready within 30s" >&2; exit 1; }
grep -E '^(remint sim|seeded)' "$dir/sim.log"
export OS_CLIENT_CONFIG_FILE="$dir/clouds.yaml"
unset OS_CLOUD
cp "$root/examples/remint.yaml" "$dir/remint.yaml" # cloud remint-sim; state lands in ./remint.db
echo "manifest: examples/remint.yaml (family debian-12; group web: 3 servers, one failover address each)"

header "register the seeded debian-12 image as the family's first version"
show remint image register debian-12 debian-12

header "deploy the example group behind its addresses (first deploy: 3 servers, 3 floating IPs)"
show remint rebuild web
show remint group show web
mapfile -t addrs < <(addresses)
[ "${#addrs[@]}" = 3 ] || { echo "demo: expected 3 failover addresses, got ${#addrs[@]}" >&2; exit 1; }
urls=()
for a in "${addrs[@]}"; do urls+=("http://$a:8080/"); done
echo
echo "who answers at each address (1s of requests):"
show remint loadgen --duration 1s "${urls[@]}"

header "an external build uploads a new debian-12 image to Glance; register it as the next version"
# What a build pipeline (Packer, diskimage-builder) does at its end, through the plain
# OpenStack APIs: a Keystone token, then Glance's create-image and upload-data calls.
# The loopback driver boots an image by its properties, not its bits, so the upload is a
# short note saying so. Secrets stay out of argv: curl reads them from files.
yaml() { sed -n "s/^ *$1: *//p" "$dir/clouds.yaml" | head -n 1; }
auth_url=$(yaml auth_url)
umask 077
printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"name":"Default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"name":"Default"}}}}}' \
  "$(yaml username)" "$(yaml password)" "$(yaml project_name)" >"$dir/auth.json"
curl -sSf -o "$dir/token.json" -D "$dir/token.headers" -H 'Content-Type: application/json' \
  --data-binary @"$dir/auth.json" "$auth_url/auth/tokens"
printf 'X-Auth-Token: %s\n' "$(sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p' "$dir/token.headers" | tr -d '\r')" >"$dir/auth.headers"
glance=$(grep -o '"url": *"[^"]*/image"' "$dir/token.json" | head -n 1 | sed 's/.*"\(http[^"]*\)"$/\1/')
[ -n "$glance" ] || { echo "demo: no image service in the token's catalog" >&2; exit 1; }
new_name="debian-12-build-$(date -u +%Y%m%d%H%M)"
printf '{"name":"%s","disk_format":"raw","container_format":"bare","os_distro":"debian","os_version":"12"}' "$new_name" >"$dir/image.json"
curl -sSf -o "$dir/image.created.json" -H @"$dir/auth.headers" -H 'Content-Type: application/json' \
  --data-binary @"$dir/image.json" "$glance/v2/images"
new_id=$(grep -o '"id": *"[^"]*"' "$dir/image.created.json" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
printf 'remint demo: image %s, built %s\n' "$new_name" "$(date -u +%FT%TZ)" >"$dir/image.raw"
curl -sSf -X PUT -H @"$dir/auth.headers" -H 'Content-Type: application/octet-stream' \
  --data-binary @"$dir/image.raw" "$glance/v2/images/$new_id/file"
echo "glance: image $new_name ($new_id) created and uploaded: active"
show remint image register debian-12 "$new_id"
show remint image list debian-12

header "plan the rebuild (nothing is touched)"
show remint plan web
slots >"$dir/slots.before"

header "rebuild under load: 4 clients keep requesting every address throughout"
stop_file="$dir/load.stop"
remint loadgen --until-file "$stop_file" --duration 120s "${urls[@]}" >"$dir/load.txt" 2>&1 &
load_pid=$!
sleep 1 # let the clients see the old servers first
show remint rebuild web
sleep 2 # and the new ones after the last move
touch "$stop_file"
load_rc=0
wait "$load_pid" || load_rc=$?
load_pid=""

header "result: failed requests, and who answered at each address, from when to when"
echo "(around a move both servers answer for up to a second: new connections reach the new"
echo " server, kept-alive ones finish on the old one until loadgen recycles them)"
cat "$dir/load.txt"

header "after: every slot on the new image (the old servers are kept for rollback until keep_old ends)"
show remint group show web
slots >"$dir/slots.after"
echo
echo "before and after, per slot:"
printf '  %-6s %-12s %-32s %s\n' SLOT ADDRESS BEFORE AFTER
paste -d ' ' "$dir/slots.before" "$dir/slots.after" | while read -r slot addr old_name old_version _ _ new_name new_version; do
  printf '  %-6s %-12s %-32s %s\n' "$slot" "$addr" "$old_name ($old_version)" "$new_name ($new_version)"
done

if [ "$load_rc" != 0 ]; then
  echo
  echo "FAILED: requests failed during the rebuild (loadgen exit $load_rc)" >&2
  exit 1
fi
echo
echo "demo done: the group was rebuilt onto the new image with 0 failed requests."
ok=1
