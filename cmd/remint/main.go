// Command remint keeps fleets of cloud servers patched the immutable way.
//
// The binary is thin: each subcommand lives in its own file, parses flags, wires the
// domain packages together and prints. Subcommands register themselves with register()
// from an init function so that files can be added without touching this one.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
)

// Exit codes CI can act on.
const (
	exitOK      = 0
	exitFailure = 1 // the operation ran and failed (a rollout rolled back, a check failed)
	exitUsage   = 2 // bad flags, bad manifest, bad input: nothing was attempted
)

// usageError marks errors caused by bad input; they exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// localOnlyError refuses, as bad input, a flag that only works when the command runs
// locally, given together with --server.
type localOnlyError struct{ error }

func (e localOnlyError) Unwrap() error { return e.error }

// localOnlyf is the usage error of a local-only flag given with --server.
func localOnlyf(format string, a ...any) error {
	return usageError{localOnlyError{fmt.Errorf(format, a...)}}
}

var commands []func() *cobra.Command

// register adds a top-level subcommand constructor; called from init functions.
func register(f func() *cobra.Command) { commands = append(commands, f) }

// globalFlags are shared by every subcommand.
type globalFlags struct {
	logLevel  string
	logFormat string
	verbose   bool
}

var globals globalFlags

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "remint",
		Short: "Keep fleets of cloud servers patched the immutable way",
		Long: `remint builds fresh, fully patched OS images, replaces servers with new ones booted from
the latest active image, checks their health and only then moves the failover address to
them. Where rebuilding is impractical it patches in place over SSH.

It talks to OpenStack clouds through clouds.yaml / OS_CLOUD (or OS_* variables) and ships
an OpenStack-API-compatible simulator (remint sim) for development, tests and demos.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&globals.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().BoolVarP(&globals.verbose, "verbose", "v", false, "log at debug level, whatever --log-level says: the cloud and endpoints connected to, retries")
	root.PersistentFlags().StringVar(&globals.logFormat, "log-format", "text", "log format: text or json")
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

// newLogger builds the process logger from the global flags; logs go to w (stderr).
func newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(globals.logLevel)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", globals.logLevel)
	}
	if globals.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch globals.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageErrorf("--log-format %q: want text or json", globals.logFormat)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		os.Exit(exitOK)
	}
	var st exitStatusError
	if errors.As(err, &st) {
		os.Exit(st.code) // a remote command's own exit status, passed through
	}
	fmt.Fprintln(os.Stderr, "remint:", err)
	if hint := serverFromEnvHint(cmd, err); hint != "" {
		fmt.Fprintln(os.Stderr, "remint:", hint)
	}
	os.Exit(exitCode(err))
}

// serverFromEnvHint explains the refusal of a local-only flag (localOnlyf) when the
// command was not given --server but took it from $REMINT_SERVER: how to run it locally is
// not obvious then.
func serverFromEnvHint(cmd *cobra.Command, err error) string {
	var lo localOnlyError
	if cmd == nil || !errors.As(err, &lo) {
		return ""
	}
	f := cmd.Flags().Lookup("server")
	if f == nil || f.Changed || os.Getenv("REMINT_SERVER") == "" {
		return ""
	}
	return "--server came from $REMINT_SERVER (" + os.Getenv("REMINT_SERVER") + "): add --server '' to run the command locally"
}

// exitCode is the exit status for a command's error.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case isUsage(err):
		return exitUsage
	default:
		return exitFailure
	}
}

// badInput are domain errors caused by what the user asked for: they exit with exitUsage
// however deep they were wrapped.
var badInput = []error{
	catalog.ErrUnknownVersion, catalog.ErrImageNotFound, catalog.ErrAmbiguousImage,
	failover.ErrStaleState,
}

// isUsage reports whether err is bad input (exit 2) rather than a failed operation.
func isUsage(err error) bool {
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return true
	}
	for _, b := range badInput {
		if errors.Is(err, b) {
			return true
		}
	}
	return false
}

// isCobraUsageError recognises cobra's own flag and argument errors.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
