package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/manifest"
)

func init() { register(newValidateCmd) }

type validateOptions struct {
	file   string
	output string
}

func newValidateCmd() *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check remint.yaml and report every problem with its position",
		Long: `Load the manifest, check every field and cross-reference, and report each problem as
file:line:column: field.path: what is wrong and what is allowed. Nothing is contacted:
the cloud, images and addresses named in the manifest are not looked up.

Exit status is 0 for a valid manifest and 2 for an invalid or unreadable one.`,
		Example: `  remint validate
  remint validate -f examples/remint.yaml
  remint validate --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidate(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	cmd.Flags().StringVarP(&o.file, "file", "f", manifest.DefaultPath(), "manifest to check ($"+manifest.EnvPath+" sets the default)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// validateReport is the --output json document.
type validateReport struct {
	File   string            `json:"file"`
	Valid  bool              `json:"valid"`
	Errors []*manifest.Error `json:"errors"`
}

func runValidate(stdout, stderr io.Writer, o validateOptions) error {
	if o.output != "text" && o.output != "json" {
		return usageErrorf("--output %q: want text or json", o.output)
	}
	m, err := manifest.Load(o.file)
	var problems manifest.Errors
	invalid := errors.As(err, &problems)
	if err != nil && !invalid {
		// Unreadable: not a problem with a position, but still the caller's input.
		problems = manifest.Errors{{File: o.file, Message: err.Error()}}
	}

	if o.output == "json" {
		rep := validateReport{File: o.file, Valid: err == nil, Errors: problems}
		if rep.Errors == nil {
			rep.Errors = []*manifest.Error{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if err != nil {
		if !invalid {
			return usageError{err} // main prints it
		}
		if o.output == "text" {
			fmt.Fprintln(stderr, problems.Error())
		}
		return usageErrorf("%s: invalid manifest (%s)", o.file, validateCount(len(problems), "problem", "problems"))
	}
	if o.output == "text" {
		fmt.Fprintf(stdout, "%s: ok (%s, %s, %s)\n", o.file,
			validateCount(len(m.Families), "family", "families"),
			validateCount(len(m.Groups), "group", "groups"),
			validateCount(len(m.Schedules), "schedule", "schedules"))
	}
	return nil
}

func validateCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
