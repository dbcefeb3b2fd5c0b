// Package pgtest starts throwaway PostgreSQL clusters for tests, from Debian's
// postgresql package (initdb and pg_ctl; no server needs to be running). Never imported
// by production code.
//
// Entry point: Start.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// binDir finds Debian's PostgreSQL binaries (/usr/lib/postgresql/N/bin), newest first.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", fmt.Errorf("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql, or run make e2e, which installs it")
	}
	sort.Strings(dirs)
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// Start starts a PostgreSQL cluster in a temporary directory on a free loopback port and
// returns its URL (user remint, database postgres, trust authentication); it is stopped
// and removed when the test ends. Without PostgreSQL the test fails under make e2e
// (REMINT_E2E=1) and is skipped otherwise, saying so.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		if os.Getenv("REMINT_E2E") == "1" {
			t.Fatal(err)
		}
		t.Skipf("%v (make e2e runs this test)", err)
	}
	dir, err := os.MkdirTemp("", "remint-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// initdb refuses to run as root: run the cluster as the postgres user then.
	var runAs []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs its postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) {
		t.Helper()
		args = append(runAs, args...)
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "remint", "-E", "UTF8", "--no-sync")
	run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", port, dir), "start")
	t.Cleanup(func() {
		args := append(runAs, filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
		_ = exec.Command(args[0], args[1:]...).Run()
	})
	return fmt.Sprintf("postgres://remint@127.0.0.1:%d/postgres?sslmode=disable", port)
}
