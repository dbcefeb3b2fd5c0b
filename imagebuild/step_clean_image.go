package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// cleanScript removes what must not be baked into an image: the machine id (regenerated
// at first boot), SSH host keys (each server makes its own), cloud-init's per-instance
// state, the build's authorized keys, apt's lists and caches, logs, shell history and
// temporary files. It is fixed text: nothing in it comes from the manifest.
const cleanScript = `set -e
apt-get -q clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
if [ -e /etc/machine-id ]; then : > /etc/machine-id; fi
rm -f /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*
if command -v cloud-init >/dev/null 2>&1; then cloud-init clean --logs; fi
rm -rf /var/lib/cloud/instances /var/lib/cloud/instance/sem /var/lib/cloud/sem
rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find /var/log -type f -exec truncate -s 0 {} +
rm -f /root/.bash_history /home/*/.bash_history /root/.lesshst /home/*/.lesshst
find /tmp /var/tmp -mindepth 1 -delete
sync
`

// stepCleanImage runs cleanScript on the builder as root.
type stepCleanImage struct{}

func (*stepCleanImage) Name() string { return "clean" }

func (s *stepCleanImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	if _, err := b.run(ctx, conn(state, roleBuilder), true, sudo("sh", "-c", cleanScript)...); err != nil {
		return halt(state, fmt.Errorf("clean the builder: %w", err))
	}
	return multistep.ActionContinue
}

func (*stepCleanImage) Cleanup(multistep.StateBag) {}
