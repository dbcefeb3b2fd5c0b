#!/bin/sh
# remint-init: what a cloud image's init system and cloud-init do on every boot of a simulated
# server, run as the container's main process (behind docker-init, which reaps orphans).
#
# Inputs, written into the container by the docker driver before each start:
#   /etc/remint/instance-id        the Nova server id
#   /etc/remint/authorized_keys    OpenSSH public keys for the default user
#   /etc/remint/workload.argv      the workload's command line, NUL-separated
#   /var/lib/cloud/instance/user-data.txt   the server's user data (run once if it starts with #!)
# /run is a fresh tmpfs on every start, so /var/run/reboot-required vanishes on reboot.
set -u

user=debian
log() { echo "remint-init: $*"; }

# A server may run dockerd (the Docker upgrade path): give it writable cgroup hierarchies, as
# a privileged container has. Without privilege the engine mounts them read-only; with
# CAP_SYS_ADMIN a bind remount lifts that. Harmless where they are writable already.
for d in /sys/fs/cgroup /sys/fs/cgroup/*; do
	if mountpoint -q "$d" && ! mount -o remount,rw,bind "$d" 2>/dev/null; then
		log "cgroup hierarchy $d stays read-only"
	fi
done

mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd
chmod 1777 /run/lock

instance=$(cat /etc/remint/instance-id 2>/dev/null || echo unknown)
log "booting instance $instance as $(hostname)"

# SSH host keys are made on the first boot of each instance, never baked into an image.
if [ ! -s /etc/remint/host-keys.instance ] || [ "$(cat /etc/remint/host-keys.instance)" != "$instance" ]; then
	rm -f /etc/ssh/ssh_host_*
	echo "$instance" > /etc/remint/host-keys.instance
fi
ssh-keygen -A >/dev/null

if [ -s /etc/remint/authorized_keys ]; then
	home=$(getent passwd "$user" | cut -d: -f6)
	install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
	install -m 0600 -o "$user" -g "$user" /etc/remint/authorized_keys "$home/.ssh/authorized_keys"
fi

# The console block cloud-init prints, so a client can verify host keys out of band.
echo "ec2: #############################################################"
echo "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----"
for f in /etc/ssh/ssh_host_*_key.pub; do
	echo "ec2: $(ssh-keygen -l -f "$f")"
done
echo "ec2: -----END SSH HOST KEY FINGERPRINTS-----"
echo "ec2: #############################################################"
echo "-----BEGIN SSH HOST KEY KEYS-----"
cat /etc/ssh/ssh_host_*_key.pub
echo "-----END SSH HOST KEY KEYS-----"

workload=
if [ -s /etc/remint/workload.argv ]; then
	# xargs appends the NUL-separated words to env, which runs them as the command: no
	# shell ever parses the argument list.
	xargs -0 -a /etc/remint/workload.argv env &
	workload=$!
	log "workload started (pid $workload)"
fi

# This script is the server's init (/sbin/init links here and /sbin/runlevel says 2), so
# services run as on a sysvinit system: those enabled for runlevel 2 (update-rc.d links in
# /etc/rc2.d: ssh, docker.io's docker…) start at boot and stop at shutdown through their init
# scripts, and package upgrades restart them through invoke-rc.d.
services() {
	for s in /etc/rc2.d/S*; do
		[ -x "$s" ] && echo "$s"
	done
}

stop() {
	log "stopping"
	for s in $(services | sort -r); do
		timeout 5 "$s" stop >/dev/null 2>&1 || log "$s stop failed with status $?"
	done
	kill -TERM $workload 2>/dev/null
	wait
	exit 0
}
trap stop TERM INT

# In the background: the workload and the boot marker do not wait for slow services.
(
	for s in $(services); do
		if "$s" start >/dev/null 2>&1; then
			log "started $s"
		else
			log "$s start failed with status $?"
		fi
	done
) &

log "boot finished"

# User data scripts run once per instance, late and in the background, as cloud-init's
# scripts-user module does: the server is up (sshd, workload) while they run.
ud=/var/lib/cloud/instance/user-data.txt
sem=/var/lib/cloud/instance/sem/user-scripts.$instance
if [ -s "$ud" ] && [ ! -e "$sem" ] && [ "$(head -c 2 "$ud")" = "#!" ]; then
	mkdir -p /var/lib/cloud/instance/scripts /var/lib/cloud/instance/sem
	cp "$ud" /var/lib/cloud/instance/scripts/part-001
	chmod 0700 /var/lib/cloud/instance/scripts/part-001
	touch "$sem"
	(
		log "running user data script"
		if /var/lib/cloud/instance/scripts/part-001; then
			log "user data script finished"
		else
			log "user data script failed with status $?"
		fi
	) &
fi

# wait returns when a trapped signal arrives or every child has exited; keep the server up
# either way, as an init system would.
while :; do
	wait
	sleep 1 &
	wait $! 2>/dev/null
done
