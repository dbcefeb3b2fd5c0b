#!/usr/bin/env bash
# Installs the Debian packages remint's tests need, when they are missing.
#   scripts/deps.sh test   packages for `make test` (real openstack CLI, dpkg/apt tools)
#   scripts/deps.sh e2e    packages for `make e2e` and `make bench` (debootstrap, packer, chromium
#                          for the web console's browser tests; checks the Docker engine)
# As root it installs them with apt-get; otherwise it says exactly what to install and fails.
set -euo pipefail

want=()
case "${1:-}" in
  test) want=(python3-openstackclient unattended-upgrades python3-apt gpgv curl postgresql) ;;
  e2e)  want=(debootstrap gpgv curl openssh-client packer chromium) ;;
  *) echo "usage: $0 test|e2e" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$1" = e2e ] && [ "$(id -u)" = 0 ]; then
  # The Docker-upgrade scenarios fetch Debian's docker.io packages through the host's apt.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
fi

if [ "$1" = e2e ]; then
  if ! command -v docker >/dev/null 2>&1 && [ ! -S /var/run/docker.sock ]; then
    echo "make e2e needs a running Docker engine (/var/run/docker.sock): install docker.io and start it" >&2
    exit 1
  fi
  if [ ! -S /var/run/docker.sock ] && [ -z "${DOCKER_HOST:-}" ]; then
    echo "make e2e needs a running Docker engine: /var/run/docker.sock is missing and DOCKER_HOST is unset" >&2
    exit 1
  fi
fi
