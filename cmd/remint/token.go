package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
)

func init() { register(newTokenCmd) }

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Bearer tokens of the daemon's HTTP API: create, list, revoke",
		Long: `Every path of remint serve's HTTP API except /healthz and /readyz needs a bearer token:
Authorization: Bearer remint_…  No token, a wrong or a revoked one is answered 401; a
read-only token may GET and HEAD but is answered 403 on anything else. Jobs queued or
changed through the API record "token NAME" as who asked.

Tokens live in the manifest's state store (SQLite or PostgreSQL), which keeps only a
SHA-256 of each secret: the secret is printed once, by create, and never again.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

// openTokens opens the manifest's state store for the token commands.
func openTokens(ctx context.Context, file string) (*auth.Tokens, func(), error) {
	m, err := loadManifest(file)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	return &auth.Tokens{Store: st}, func() { st.Close() }, nil
}

func newTokenCreateCmd() *cobra.Command {
	var file, name, output string
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "create --name NAME [--read-only]",
		Short: "Create a token and print its secret (shown this once only)",
		Long: `Create a token and print its secret on stdout, the one time it is shown: keep it in
your secret store and give it to clients as $REMINT_TOKEN (remint job … --server) or as
"Authorization: Bearer SECRET". Names are unique, revoked tokens' too: the job log's
"token NAME" always means one token.`,
		Example: `  remint token create --name admin
  remint token create --name grafana --read-only
  export REMINT_TOKEN=$(remint token create --name ci --output secret)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json", "secret"); err != nil {
				return err
			}
			if name == "" {
				return usageErrorf("--name is required: a name for the token (e.g. admin, ci, grafana)")
			}
			tok, closeFn, err := openTokens(cmd.Context(), file)
			if err != nil {
				return err
			}
			defer closeFn()
			secret, rec, err := tok.Create(cmd.Context(), name, readOnly, whoami())
			var bad auth.BadNameError
			switch {
			case errors.As(err, &bad):
				return usageErrorf("--name: %v", err)
			case errors.Is(err, store.ErrTokenExists):
				return usageErrorf("token %s exists already (revoked ones keep their name): choose another --name", name)
			case err != nil:
				return err
			}
			return printCreatedToken(cmd.OutOrStdout(), output, rec, secret)
		},
	}
	manifestFlag(cmd, &file)
	cmd.Flags().StringVar(&name, "name", "", "the token's name, recorded with every write it makes (required)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "the token may only read (GET, HEAD): 403 on writes")
	outputFlag(cmd, &output, "text", "json", "secret")
	return cmd
}

func printCreatedToken(w io.Writer, output string, rec store.APIToken, secret string) error {
	switch output {
	case "secret":
		_, err := fmt.Fprintln(w, secret)
		return err
	case "json":
		return writeJSONOut(w, struct {
			tokenView
			Token string `json:"token"`
		}{viewToken(rec), secret})
	}
	access := "read and write"
	if rec.ReadOnly {
		access = "read-only"
	}
	fmt.Fprintf(w, "token %s (%s) created. Its secret, shown this once only:\n\n  %s\n\n", rec.Name, access, secret)
	fmt.Fprintln(w, "Use it as: export REMINT_TOKEN=<secret>   or   curl -H \"Authorization: Bearer <secret>\" …")
	return nil
}

// tokenView is a token as list prints it: never a secret or its hash.
type tokenView struct {
	Name      string     `json:"name"`
	ReadOnly  bool       `json:"read_only"`
	CreatedBy string     `json:"created_by,omitempty"`
	Created   time.Time  `json:"created"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Revoked   *time.Time `json:"revoked,omitempty"`
}

func viewToken(t store.APIToken) tokenView {
	v := tokenView{Name: t.Name, ReadOnly: t.ReadOnly, CreatedBy: t.CreatedBy, Created: t.Created.UTC()}
	if !t.LastUsed.IsZero() {
		u := t.LastUsed.UTC()
		v.LastUsed = &u
	}
	if !t.Revoked.IsZero() {
		r := t.Revoked.UTC()
		v.Revoked = &r
	}
	return v
}

func newTokenListCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List tokens: name, read-only, created, last used, revoked (never a secret)",
		Example: "  remint token list\n  remint token list --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			tok, closeFn, err := openTokens(cmd.Context(), file)
			if err != nil {
				return err
			}
			defer closeFn()
			list, err := tok.List(cmd.Context())
			if err != nil {
				return err
			}
			views := make([]tokenView, 0, len(list))
			for _, t := range list {
				views = append(views, viewToken(t))
			}
			if output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), map[string]any{"tokens": views})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tACCESS\tCREATED (UTC)\tLAST USED (UTC)\tREVOKED (UTC)")
			for _, v := range views {
				access := "read-write"
				if v.ReadOnly {
					access = "read-only"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, access, v.Created.Format("2006-01-02 15:04:05"), fmtJobTime(v.LastUsed), fmtJobTime(v.Revoked))
			}
			return tw.Flush()
		},
	}
	manifestFlag(cmd, &file)
	outputFlag(cmd, &output, "text", "json")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:     "revoke NAME",
		Short:   "Revoke a token: it is refused (401) from its next request on",
		Example: "  remint token revoke ci",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, closeFn, err := openTokens(cmd.Context(), file)
			if err != nil {
				return err
			}
			defer closeFn()
			rec, err := tok.Revoke(cmd.Context(), args[0])
			if errors.Is(err, store.ErrTokenNotFound) {
				return usageErrorf("token %s: no such token (remint token list shows them)", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked at %s\n", rec.Name, rec.Revoked.UTC().Format(time.RFC3339))
			return nil
		},
	}
	manifestFlag(cmd, &file)
	return cmd
}

// whoami names the local user who created a token (for token list), best effort.
func whoami() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
