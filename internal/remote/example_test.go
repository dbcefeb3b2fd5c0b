package remote_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
)

// Dial a server by id, its host key verified against the keys on its console, and run a
// command. (Compiled, not run: it needs a cloud.)
func ExampleAccess_DialServer() {
	ctx := context.Background()
	cloud, _ := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: "remint-sim"})
	signer, err := remote.LoadSigner("") // the file named by $REMINT_SSH_KEY
	if err != nil {
		panic(err)
	}
	access := &remote.Access{Cloud: cloud, User: "debian", Signer: signer, Logger: slog.Default()}

	srv, _ := cloud.GetServer(ctx, "7f0c2a1e-…")
	conn, err := access.DialServer(ctx, srv)
	if err != nil {
		panic(err) // a *remote.HostKeyMismatchError when someone else answers
	}
	defer conn.Close()
	res, err := conn.Run(ctx, []string{"sudo", "-n", "apt-get", "update"})
	if err == nil {
		err = res.Err() // non-zero exit
	}
	fmt.Println(res.Stdout, err)
}

// Wait for a freshly booted builder (temporary keypair, keys from its console), then
// upload a file as root, atomically.
func ExampleClient_Upload() {
	ctx := context.Background()
	cloud, _ := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: "remint-sim"})
	var keypairPEM []byte // the private key Nova returned for the temporary keypair
	signer, err := remote.ParseSigner(keypairPEM)
	if err != nil {
		panic(err)
	}
	access := &remote.Access{Cloud: cloud, User: "debian", Signer: signer}
	builder, _ := cloud.WaitServerActive(ctx, "builder-id")
	conn, err := access.WaitForSSH(ctx, builder, 5*time.Minute)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	err = conn.Upload(ctx, "/etc/apt/apt.conf.d/20auto-upgrades", 0o644,
		strings.NewReader("APT::Periodic::Unattended-Upgrade \"1\";\n"), remote.WithSudo())
	fmt.Println(err)
}
