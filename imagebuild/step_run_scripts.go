package imagebuild

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/remote"
)

// stepRunScripts uploads the family's scripts and runs each as root, in order, within
// the command timeout; their output is kept in the step's output. A script that starts
// with #! runs with its interpreter, any other with /bin/sh.
type stepRunScripts struct{}

func (*stepRunScripts) Name() string { return "run scripts" }

func (s *stepRunScripts) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	c := conn(state, roleBuilder)
	for i, script := range b.opts.Family.Provision.Scripts {
		path := fmt.Sprintf("/var/tmp/remint-build-script-%d", i+1)
		if err := c.Upload(ctx, path, 0o700, strings.NewReader(script), remote.WithSudo()); err != nil {
			return halt(state, fmt.Errorf("upload script %d: %w", i+1, err))
		}
		argv := sudo("/bin/sh", path)
		if strings.HasPrefix(script, "#!") {
			argv = sudo(path)
		}
		_, err := b.run(ctx, c, true, argv...)
		_, _ = b.run(ctx, c, false, sudo("rm", "-f", path)...)
		if err != nil {
			return halt(state, fmt.Errorf("script %d of family %s failed: %w", i+1, b.opts.Family.Name, err))
		}
	}
	return multistep.ActionContinue
}

func (*stepRunScripts) Cleanup(multistep.StateBag) {}
