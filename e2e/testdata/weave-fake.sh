#!/bin/sh
# A stand-in for Weave Net's launch script (https://github.com/weaveworks/weave, the
# `weave` script), implementing the part of its command-line contract remint drives:
# version, stop, launch [PEERS…], status. Weave's container images cannot be fetched on
# the test machines, so this one keeps its state in files instead of containers.
set -e
VERSION=2.8.1
STATE=/var/lib/weave-fake
case "$1" in
version)
	echo "weave script $VERSION"
	if [ -e "$STATE/running" ]; then echo "weave $VERSION"; else echo "weave router not running"; fi
	;;
stop)
	rm -f "$STATE/running"
	echo stop >> "$STATE/log"
	;;
launch)
	shift
	mkdir -p "$STATE"
	[ -e "$STATE/running" ] && { echo "weave is already running; you can stop it with 'weave stop'" >&2; exit 1; }
	for p in "$@"; do
		case "$p" in *[!0-9.]*) echo "invalid peer $p" >&2; exit 1;; esac
	done
	echo "$*" > "$STATE/peers"
	echo "$VERSION" > "$STATE/running"
	echo "launch $*" >> "$STATE/log"
	;;
status)
	[ -e "$STATE/running" ] || { echo "weave container is not present. Have you launched it?" >&2; exit 1; }
	echo "        Version: $(cat "$STATE/running")"
	echo "          Peers: $(cat "$STATE/peers")"
	;;
*)
	echo "usage: weave version|stop|launch [PEERS…]|status" >&2
	exit 1
	;;
esac
