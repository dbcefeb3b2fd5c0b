package openstack_test

import (
	"errors"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
)

// Terminal marks a failure no retry will fix; the message stays one line.
func ExampleTerminal() {
	err := openstack.Terminal(fmt.Errorf("server web-1 went to ERROR: %s", "No valid host was found."))
	wrapped := fmt.Errorf("replace server web-1: %w", err)
	fmt.Println(wrapped)
	fmt.Println(openstack.IsTerminal(wrapped), openstack.IsRetryable(wrapped), errors.Is(wrapped, openstack.ErrTerminal))
	// Output:
	// replace server web-1: server web-1 went to ERROR: No valid host was found.
	// true false true
}
