package aptrepo_test

import (
	"fmt"

	"github.com/remint-dev/remint/internal/sim/aptrepo"
)

// A server trusts the repository with the keyring from PublicKeyring and this sources
// file (e.g. /etc/apt/sources.list.d/remint.sources).
func ExampleSourcesList() {
	fmt.Print(aptrepo.SourcesList("http://172.17.0.1:8081/debian", "/usr/share/keyrings/remint-archive-keyring.gpg"))
	// Output:
	// Types: deb
	// URIs: http://172.17.0.1:8081/debian
	// Suites: bookworm bookworm-updates bookworm-security
	// Components: main
	// Signed-By: /usr/share/keyrings/remint-archive-keyring.gpg
}
