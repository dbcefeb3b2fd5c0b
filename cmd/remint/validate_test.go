package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests build the real root command; they are not parallel because cobra binds the
// global flags to package variables.

// validateRun executes the root command with args and returns stdout, stderr and the error
// main would turn into an exit code.
func validateRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.Execute()
	return out.String(), errb.String(), err
}

// validateExitCode mirrors main's mapping of errors to exit codes.
func validateExitCode(err error) int { return exitCode(err) }

const validateBadManifest = `cloud: remint-sim
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  web:
    count: 3
    image: {family: debian-12}
    flavor: m1.small
    network: private
    rollout:
      max_surge: -1
      max_surg: 2
`

func validateWriteManifest(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "remint.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestValidateExample(t *testing.T) {
	stdout, stderr, err := validateRun(t, "validate", "-f", "../../examples/remint.yaml")
	require.NoError(t, err)
	assert.Equal(t, "../../examples/remint.yaml: ok (1 family, 2 groups, 3 schedules)\n", stdout)
	assert.Empty(t, stderr)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := validateWriteManifest(t, validateBadManifest)
	stdout, stderr, err := validateRun(t, "validate", "-f", p)
	require.Error(t, err)
	assert.Equal(t, exitUsage, validateExitCode(err))
	assert.Equal(t, p+": invalid manifest (2 problems)", err.Error())
	assert.Empty(t, stdout)
	assert.Equal(t, p+`:15:18: groups.web.rollout.max_surge: want an integer >= 0, got -1
`+p+`:16:7: groups.web.rollout.max_surg: unknown field "max_surg" (did you mean "max_surge"?); allowed: strategy, max_surge, max_unavailable, soak, keep_old, health_gate, bake, rollback_on_failure, gate
`, stderr)
}

func TestValidateJSON(t *testing.T) {
	type report struct {
		File   string `json:"file"`
		Valid  bool   `json:"valid"`
		Errors []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}

	stdout, _, err := validateRun(t, "validate", "-f", "../../examples/remint.yaml", "--output", "json")
	require.NoError(t, err)
	var ok report
	require.NoError(t, json.Unmarshal([]byte(stdout), &ok))
	assert.True(t, ok.Valid)
	assert.Equal(t, "../../examples/remint.yaml", ok.File)
	assert.NotNil(t, ok.Errors)
	assert.Empty(t, ok.Errors)
	assert.Contains(t, stdout, `"errors": []`, "an empty list, not null")

	p := validateWriteManifest(t, validateBadManifest)
	stdout, stderr, err := validateRun(t, "validate", "-f", p, "-o", "json")
	assert.Equal(t, exitUsage, validateExitCode(err))
	assert.Empty(t, stderr, "json mode prints problems only in the report")
	var bad report
	require.NoError(t, json.Unmarshal([]byte(stdout), &bad))
	assert.False(t, bad.Valid)
	require.Len(t, bad.Errors, 2)
	e := bad.Errors[0]
	assert.Equal(t, p, e.File)
	assert.Equal(t, 15, e.Line)
	assert.Equal(t, 18, e.Column)
	assert.Equal(t, "groups.web.rollout.max_surge", e.Field)
	assert.Equal(t, "want an integer >= 0, got -1", e.Message)

	missing := filepath.Join(t.TempDir(), "nope.yaml")
	stdout, _, err = validateRun(t, "validate", "-f", missing, "-o", "json")
	assert.Equal(t, exitUsage, validateExitCode(err))
	assert.ErrorIs(t, err, os.ErrNotExist)
	var unreadable report
	require.NoError(t, json.Unmarshal([]byte(stdout), &unreadable))
	assert.False(t, unreadable.Valid)
	require.Len(t, unreadable.Errors, 1)
	assert.Contains(t, unreadable.Errors[0].Message, "no such file or directory")
}

func TestValidateDefaultFileFromEnv(t *testing.T) {
	p := validateWriteManifest(t, validateBadManifest)
	t.Setenv("REMINT_MANIFEST", p)
	_, stderr, err := validateRun(t, "validate")
	assert.Equal(t, exitUsage, validateExitCode(err))
	assert.Contains(t, stderr, p+":15:18: groups.web.rollout.max_surge")

	// Without the variable the default is remint.yaml in the working directory.
	t.Setenv("REMINT_MANIFEST", "")
	t.Chdir(t.TempDir())
	_, _, err = validateRun(t, "validate")
	assert.Equal(t, exitUsage, validateExitCode(err))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "remint.yaml")
}

func TestValidateBadUsage(t *testing.T) {
	cases := map[string][]string{
		"bad output":   {"validate", "-f", "../../examples/remint.yaml", "--output", "yaml"},
		"extra arg":    {"validate", "remint.yaml"},
		"unknown flag": {"validate", "--fiel", "x"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			stdout, _, err := validateRun(t, args...)
			require.Error(t, err)
			assert.Equal(t, exitUsage, validateExitCode(err), "%v", err)
			assert.Empty(t, stdout)
		})
	}
}
