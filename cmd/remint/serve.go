package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newServeCmd) }

type serveOptions struct {
	file            string
	listen          string
	workers         int
	tlsCert, tlsKey string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: fire schedules, work durable jobs, retire kept servers on time, serve the API, the web console and /metrics",
		Long: `Run remint as a service on the manifest's state file (SQLite): it fires the manifest's
schedules (a run missed while no daemon was up is caught up once if its window is still
open, else recorded missed; a run whose target is busy is skipped and recorded), works
the durable jobs (remint job), deletes old servers kept for rollback when their keep-old
time is over, enforces each image family's retention once a day, and serves on --listen
/healthz, /readyz, the job API (/v1/jobs), the schedule API (/v1/schedules,
/v1/rrule/next), the group and image API (/v1/groups, /v1/images: what group show, plan,
rebuild, rollback and the image commands do), its OpenAPI document (/openapi.json),
STACKIT's Server Update API (/v1/projects/{projectId}/servers/{serverId}/updates, …) and
the web console (/). Schedules created at run time (remint schedule create, the console)
fire beside the manifest's; creates, changes, enables, disables and deletes are picked
up without a restart.

Every path but /healthz, /readyz, /openapi.json and the console's page needs a bearer
token (remint token create): the API (/v1/…), Prometheus metrics at /metrics and River's
job UI at /riverui/. With --tls-cert and
--tls-key it serves HTTPS.

A job whose daemon died (kill -9) is resumed by the next daemon once its lease expired
(30s; $REMINT_LEASE_TTL): a rebuild finishes its recorded rollout. SIGTERM stops after
each job's current step and leaves the jobs to resume on the next start.

The web console at / (groups, images, updates with their schedules, jobs) asks for an
API token at login (remint token create; a --read-only token sees but cannot write).

Logs are JSON when stderr is not a terminal (unless --log-format says otherwise).`,
		Example: `  remint token create --name admin        # prints the token once; it also logs in to the console
  remint serve -f remint.yaml --listen 127.0.0.1:8440
  REMINT_TOKEN=remint_… remint job list --server http://127.0.0.1:8440
  REMINT_TOKEN=remint_… remint rebuild web --server http://127.0.0.1:8440
  curl -s -H "Authorization: Bearer $REMINT_TOKEN" http://127.0.0.1:8440/v1/groups/web
  remint serve --listen 0.0.0.0:8443 --tls-cert server.pem --tls-key server-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("log-format") && !cmd.Root().PersistentFlags().Changed("log-format") && !isTerminal(cmd.ErrOrStderr()) {
				globals.logFormat = "json"
			}
			return runServe(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	manifestFlag(cmd, &o.file)
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8440", "address to serve the API, the web console and /metrics on")
	cmd.Flags().IntVar(&o.workers, "workers", 4, "jobs run at once (on different targets)")
	cmd.Flags().StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key")
	cmd.Flags().StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func runServe(ctx context.Context, stdout, stderr io.Writer, o serveOptions) error {
	if o.workers < 1 {
		return usageErrorf("--workers %d: want at least 1", o.workers)
	}
	tlsConf, err := loadServeTLS(o.tlsCert, o.tlsKey)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr)
	if err != nil {
		return err
	}
	env, err := openJobs(ctx, o.file, stderr, log, o.workers)
	if err != nil {
		return err
	}
	defer env.Close()
	scheds, err := env.schedules()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageErrorf("--listen %s: %v", o.listen, err)
	}
	d := &orchestrator.Daemon{Queue: env.queue, Store: env.store, Schedules: scheds, RunTime: true, KeptGroups: env.m.GroupNames(),
		RetentionFamilies: env.m.FamilyNames(), Logger: log}
	ready := func(ctx context.Context) error { return env.store.DB().PingContext(ctx) }
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	metrics := orchestrator.NewMetrics(orchestrator.MetricsOptions{Store: env.store, Images: env.imagesBuilt, Logger: log})
	env.queue.Observe(metrics)
	riverUI, err := env.queue.RiverUI(runCtx, "/riverui", log)
	if err != nil {
		log.Warn("River's job UI is not served", "err", err)
		riverUI = unavailable("River's job UI is not available on this daemon: " + err.Error())
	}
	tokens := &auth.Tokens{Store: env.store}
	routes := newHTTPRoutes(&auth.Guard{Auth: tokens, Log: log})
	fleet := env.fleet()
	api := env.withServerUpdate(orchestrator.API{Jobs: orchestrator.Local{Queue: env.queue}, Ready: ready, Groups: fleet, Images: fleet,
		More: orchestrator.ScheduleRoutes(scheduleService(env.m, env.store, time.Now, d.SchedulesChanged), time.Now)}.Handler(), d.SchedulesChanged, log)
	routes.mountAccess(api, metrics.Handler(), riverUI)
	// The web console keeps its own cookie session (a login with an API token), so it is
	// mounted open beside the API, on the paths console.Mount names.
	cons, err := newConsole(env, tokens, d.SchedulesChanged, log)
	if err != nil {
		return err
	}
	cons.Mount(routes.mux)
	routes.guarded("/", api) // what no one else claims: 401 without a token, 404 with one
	if n, err := env.store.CountValidTokens(ctx); err != nil {
		return err
	} else if n == 0 {
		log.Warn(noTokensHint)
	}
	srv := &http.Server{Handler: routes.mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	httpErr := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			httpErr <- srv.ServeTLS(ln, "", "")
			return
		}
		httpErr <- srv.Serve(ln)
	}()
	state := env.m.StatePath()
	if u, err := url.Parse(state); err == nil && env.m.StateIsPostgres() {
		state = u.Redacted() // never log the database password
	}
	log.Info("serving", "listen", ln.Addr().String(), "scheme", scheme, "state", state)
	fmt.Fprintf(stdout, "remint serve: listening on %s://%s\n", scheme, ln.Addr())

	daemonErr := make(chan error, 1)
	go func() { daemonErr <- d.Run(runCtx) }()
	select {
	case err = <-daemonErr:
	case err = <-httpErr:
		cancel()
		err = errors.Join(fmt.Errorf("HTTP API: %w", err), <-daemonErr)
	}
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutCtx)
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
