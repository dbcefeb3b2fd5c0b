package sim_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// simCommandFiles are the files of cmd/remint that may import the simulated world: the
// `remint sim` command and `remint workload`, the app simulated servers run. Every other
// file of the binary is production code.
var simCommandFiles = []string{
	"cmd/remint/sim.go",
	"cmd/remint/sim_build_base.go",
	"cmd/remint/sim_driver_docker.go",
	"cmd/remint/sim_driver_loopback.go",
	"cmd/remint/sim_publish.go",
	"cmd/remint/workload.go",
}

// TestProductionCodeNeverImportsTheSimulatedWorld checks every non-test Go file of the
// module outside internal/sim, whatever its build constraints: none imports internal/sim or
// a package under it, except the sim command files of cmd/remint.
func TestProductionCodeNeverImportsTheSimulatedWorld(t *testing.T) {
	t.Parallel()
	root, module := moduleRoot(t)

	violations, checked, err := boundaryViolations(root, module, simCommandFiles)
	require.NoError(t, err)

	if len(violations) > 0 {
		t.Errorf("production code imports the simulated world (move what it needs out of internal/sim, or the import into a _test.go file):\n\t%s",
			strings.Join(violations, "\n\t"))
	}
	// The walk really covered the tree: the binary's entry point and the domain packages.
	for _, f := range []string{"cmd/remint/main.go", "cmd/remint/rebuild.go", "internal/loadgen/loadgen.go", "internal/openstack/client.go"} {
		assert.Contains(t, checked, f)
	}
	for _, f := range simCommandFiles {
		assert.Contains(t, checked, f, "listed sim command file is gone; update simCommandFiles")
	}
}

// The check itself fails on a violation: a synthetic module with one of each case.
func TestBoundaryViolationsFindsImportsOfTheSimulatedWorld(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	const mod = "example.com/m"
	files := map[string]string{
		"go.mod":                         "module " + mod + "\n",
		"failover/rebuild.go":            goFile("failover", mod+"/internal/store", mod+"/internal/sim/aptrepo"),
		"failover/rebuild_test.go":       goFile("failover", mod+"/internal/sim"),
		"internal/store/store.go":        goFile("store", "fmt"),
		"internal/store/linux.go":        "//go:build never\n\n" + goFile("store", mod+"/internal/sim/workload"),
		"internal/simple/simple.go":      goFile("simple", mod+"/internal/simple/x"),
		"internal/sim/docker/docker.go":  goFile("docker", mod+"/internal/sim", mod+"/internal/sim/baseimage"),
		"cmd/remint/sim.go":              goFile("main", mod+"/internal/sim"),
		"cmd/remint/rebuild.go":          goFile("main", mod+"/internal/sim/loopback"),
		"cmd/remint/testdata/x/x.go":     goFile("x", mod+"/internal/sim"),
		"cmd/remint/.hidden/x.go":        goFile("x", mod+"/internal/sim"),
		"internal/sim/testdata/broken.x": "not go",
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}

	violations, checked, err := boundaryViolations(root, mod, []string{"cmd/remint/sim.go"})
	require.NoError(t, err)

	assert.Equal(t, []string{
		"cmd/remint/rebuild.go imports " + mod + "/internal/sim/loopback",
		"failover/rebuild.go imports " + mod + "/internal/sim/aptrepo",
		"internal/store/linux.go imports " + mod + "/internal/sim/workload",
	}, violations)
	assert.Equal(t, []string{"cmd/remint/rebuild.go", "cmd/remint/sim.go", "failover/rebuild.go",
		"internal/simple/simple.go", "internal/store/linux.go", "internal/store/store.go"}, checked)
}

func goFile(pkg string, imports ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nimport (\n", pkg)
	for _, imp := range imports {
		fmt.Fprintf(&b, "\t_ %q\n", imp)
	}
	b.WriteString(")\n")
	return b.String()
}

// moduleRoot finds go.mod above the test's directory and returns its directory and module path.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(mod), `"`)
				}
			}
			t.Fatalf("no module line in %s", filepath.Join(dir, "go.mod"))
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test directory")
		dir = parent
	}
}

// boundaryViolations parses the imports of every non-test .go file under root outside
// internal/sim (skipping testdata and hidden directories, as the go command does) and
// returns, sorted, one "file imports path" line per import of module/internal/sim or a
// package under it from a file not in allowed, and the files it checked (slash paths
// relative to root).
func boundaryViolations(root, module string, allowed []string) (violations, checked []string, err error) {
	simPath := module + "/internal/sim"
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if rel == "internal/sim" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		checked = append(checked, rel)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("parse imports of %s: %w", rel, err)
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return fmt.Errorf("import path %s in %s: %w", imp.Path.Value, rel, err)
			}
			if (p == simPath || strings.HasPrefix(p, simPath+"/")) && !slices.Contains(allowed, rel) {
				violations = append(violations, rel+" imports "+p)
			}
		}
		return nil
	})
	slices.Sort(violations)
	slices.Sort(checked)
	return violations, checked, err
}
