// Command intake runs the Intake importer (`intake serve`: all services in
// one process by default, or any subset of them) and talks to a running one
// (import, status, errors, replay, cancel, keys). `intake` alone prints the
// commands; `intake help COMMAND` or `intake COMMAND --help` a command's
// flags and an example.
//
// Every flag of serve and ferretdb, and the client commands' --server and
// --api-key, can also be set with an INTAKE_* environment variable, e.g.
// --nats-url as INTAKE_NATS_URL; a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/logging"
	"github.com/intake/intake/services/intake/app"
)

func main() {
	// SIGINT and SIGTERM end the command's context: serve shuts down
	// gracefully and exits 0, a waiting client command stops waiting.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// exitStatus prints err (unless it is only an exit code) and chooses the
// process's exit status.
func exitStatus(err error, stderr io.Writer) int {
	var code exitCode
	var usage *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage):
		if usage.err != nil {
			fmt.Fprintf(stderr, "intake: %v\nRun '%s --help' for usage.\n", usage.err, usage.cmd.CommandPath())
		}
		return exitUsage
	default:
		fmt.Fprintln(stderr, "intake:", err)
		return exitError
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext runs the command args name until it ends or ctx does.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// usageError is a command line that names no command, an unknown one, or
// bad flags or arguments: exit 2, as shells and getopt do.
type usageError struct {
	cmd *cobra.Command
	err error // nil: the help was already printed
}

func (e *usageError) Error() string {
	if e.err == nil {
		return "usage"
	}
	return e.err.Error()
}

func (e *usageError) Unwrap() error { return e.err }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "intake",
		Short: "Intake imports CSV and XLSX files (or rows published to NATS) into MongoDB",
		Long: "Intake imports CSV and XLSX files, or rows published to NATS JetStream, into MongoDB:\n" +
			"validated, deduplicated and reported row by row. `intake serve` runs it; the other\n" +
			"commands talk to a running server.",
		Example: "  intake serve                      # everything in one process, data under ./data\n" +
			"  intake import contacts.csv        # in another terminal",
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRun(stderr),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{cmd: cmd, err: err} })
	root.SetHelpCommand(helpCommand())
	root.AddCommand(serveCommand(), importCommand(), statusCommand(), errorsCommand(), replayCommand(),
		cancelCommand(), undoCommand(), keysCommand(stderr), healthcheckCommand(), ferretdbCommand())
	return root
}

// groupRun is the action of a command that only groups others (intake,
// intake keys): alone it prints its help on stderr; with an argument it
// names an unknown command. Either way it exits 2, starting nothing.
func groupRun(stderr io.Writer) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return &usageError{cmd: cmd}
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return &usageError{cmd: cmd, err: errors.New(msg)}
	}
}

// helpCommand is cobra's help command, except that an unknown topic is a
// bad command line (exit 2), not a help shown.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  intake help import\n  intake help keys create",
		RunE: func(c *cobra.Command, topic []string) error {
			cmd, rest, err := c.Root().Find(topic)
			if err != nil || len(rest) > 0 {
				return &usageError{cmd: c.Root(), err: fmt.Errorf("unknown help topic %q", strings.Join(topic, " "))}
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// args checks a command's positional arguments: exactly n, named what in
// the message.
func args(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		if len(got) == n {
			return nil
		}
		if n == 0 {
			return &usageError{cmd: cmd, err: fmt.Errorf("unexpected arguments: %v", got)}
		}
		return &usageError{cmd: cmd, err: fmt.Errorf("want %s, got %d arguments", what, len(got))}
	}
}

// envAnnotation marks a flag that an INTAKE_* variable may set.
const envAnnotation = "intake-env"

// envName is the variable of a flag: --nats-url is INTAKE_NATS_URL.
func envName(flag string) string {
	return "INTAKE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// fromEnv lets INTAKE_* variables set the named flags (all of fs's without
// names), and says so in their help.
func fromEnv(fs *pflag.FlagSet, names ...string) {
	mark := func(f *pflag.Flag) {
		f.Usage += " (" + envName(f.Name) + ")"
		_ = fs.SetAnnotation(f.Name, envAnnotation, []string{envName(f.Name)})
	}
	if len(names) == 0 {
		fs.VisitAll(mark)
	}
	for _, n := range names {
		mark(fs.Lookup(n))
	}
}

// applyEnv sets the marked flags not given on the command line from their
// variables: the command line wins.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if _, marked := f.Annotations[envAnnotation]; !marked || f.Changed || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = &usageError{cmd: cmd, err: fmt.Errorf("%s: %w", envName(f.Name), serr)}
			}
		}
	})
	return err
}

func serveCommand() *cobra.Command {
	// The flags start from the defaults in effect (app.Default), written once.
	cfg := app.Default()
	var target, logLevel string
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the importer (all services by default)",
		Long: "Run Intake: with no --nats-url and --mongo-uri, an embedded nats-server and FerretDB\n" +
			"keep their files under --data-dir. It stops gracefully on SIGINT or SIGTERM.",
		Example: "  intake serve\n" +
			"  intake serve --http-addr 127.0.0.1:9090 --data-dir /var/lib/intake\n" +
			"  INTAKE_NATS_URL=nats://broker:4222 intake serve --target=validator,writer",
		Args: args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Targets = strings.Split(target, ",")
			for i := range cfg.Targets {
				cfg.Targets[i] = strings.TrimSpace(cfg.Targets[i])
			}
			return serve(cmd.Context(), cfg, logLevel)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&target, "target", "all", "services to run: all, or a comma-separated list of "+strings.Join(app.Services(), ", "))
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP listen address (API for ingest; health for other targets)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "where the embedded broker and database keep their files")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server URL(s), comma-separated; empty starts an embedded nats-server")
	fs.StringVar(&cfg.MongoURI, "mongo-uri", "", "MongoDB connection string; empty starts an embedded FerretDB")
	fs.StringVar(&cfg.MongoDB, "mongo-db", cfg.MongoDB, "database name prefix (<name>, <name>_records, <name>_dedup)")
	fs.StringVar(&cfg.EmbeddedNATSAddr, "embedded-nats-addr", "", "listen address of the embedded nats-server, with credentials generated into DATA_DIR/nats-context.json; empty: no listener, reached in process only")
	fs.StringVar(&cfg.EmbeddedMongoAddr, "embedded-mongo-addr", "", "loopback TCP address of the embedded FerretDB (no authentication); empty: the owner-only Unix socket DATA_DIR/mongodb.sock")
	fs.IntVar(&cfg.StreamReplicas, "stream-replicas", cfg.StreamReplicas, "JetStream stream replicas (3 on a NATS cluster)")
	fs.DurationVar(&cfg.RowsRetention, "rows-retention", cfg.RowsRetention, "how long raw rows are kept for replay")
	fs.IntVar(&cfg.ChunkSize, "chunk-size", cfg.ChunkSize, "rows per message")
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", cfg.MaxUploadBytes, "largest accepted upload (413 above)")
	fs.IntVar(&cfg.MaxRows, "max-rows", cfg.MaxRows, "most rows per import (422 above; at most 1,000,000,000)")
	fs.IntVar(&cfg.MaxConcurrent, "max-concurrent-imports", cfg.MaxConcurrent, "imports one tenant may have processing at once (429 above; 0: no limit)")
	fs.IntVar(&cfg.MaxEventStreams, "max-event-streams", cfg.MaxEventStreams, "event streams (GET /v1/imports/{id}/events) one tenant may hold open per ingest process (429 above)")
	fs.StringVar(&cfg.TenantLimitsFile, "tenant-limits", "", "JSON file with per-tenant limits overriding the defaults (see README)")
	fs.IntVar(&cfg.Instances, "instances", cfg.Instances, "instances of each selected service in this process")
	fs.IntVar(&cfg.Partitions.Partitions, "partitions", cfg.Partitions.Partitions, "partitions of the validator's, deduplicator's, writer's and reporter's streams; the same for every process (stored in the streams)")
	fs.DurationVar(&cfg.Partitions.PinnedTTL, "pinned-ttl", cfg.Partitions.PinnedTTL, "how long an instance may stop pulling a partition before another takes it over")
	fs.IntVar(&cfg.Partitions.Index, "instance-index", 0, "index of this process's first instance among all instances of its services (spreads the partitions)")
	fs.IntVar(&cfg.Partitions.Instances, "instance-count", 0, "instances of each service over all processes; 0: this process's --instances")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a graceful shutdown may take")
	fs.DurationVar(&cfg.Runner.AckWait, "ack-wait", cfg.Runner.AckWait, "how long a chunk may go unacknowledged before it is redelivered (e.g. after a crash)")
	fs.IntVar(&cfg.AccountingBatch, "accounting-batch", cfg.AccountingBatch, "accounting messages of a partition, already waiting, that the reporter applies with one summary write per import; 1: one at a time")
	fs.DurationVar(&cfg.UnsealedTimeout, "unsealed-timeout", cfg.UnsealedTimeout, "an import without progress for this long (never sealed, rows missing) ends failed; negative: never")
	fs.DurationVar(&cfg.Retention.Notes, "notes-retention", cfg.Retention.Notes, "a finished import's skipped and failed rows (row notes) are removed this long after it finished; negative: kept")
	fs.DurationVar(&cfg.Retention.Summaries, "summary-retention", cfg.Retention.Summaries, "a finished import's summary is removed this long after it finished (then 404); negative: kept")
	fs.StringVar(&cfg.BootstrapAPIKey, "bootstrap-api-key", "", "creates (idempotently) the operator API key (every capability, every tenant) of tenant default with this value")
	fs.StringVar(&cfg.JWTHS256Secret, "jwt-hs256-secret", "", "secret that verifies HS256 bearer tokens (at least 32 bytes)")
	fs.StringVar(&cfg.JWTJWKSFile, "jwt-jwks-file", "", "JWKS file with the public keys that verify RS256/ES256 bearer tokens")
	fs.DurationVar(&cfg.JWTMaxLifetime, "jwt-max-lifetime", cfg.JWTMaxLifetime, "longest a bearer token may be valid: exp at most this long after iat (or after now without iat)")
	fs.StringVar(&cfg.JWTIssuer, "jwt-issuer", "", "if set, bearer tokens must carry this iss claim")
	fs.StringVar(&cfg.JWTAudience, "jwt-audience", "", "if set, bearer tokens must carry this value in their aud claim")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies (an ingress) whose X-Forwarded-For names the client; empty: use the connection's address")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "if set, serve Go's pprof profiles on this address (keep it on loopback)")
	fromEnv(fs)
	return cmd
}

// serve runs Intake until ctx ends; a clean shutdown returns nil (exit 0).
func serve(ctx context.Context, cfg app.Config, logLevel string) error {
	log, err := logging.New(logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg.Ready = func(i app.Info) { app.Banner(os.Stderr, i) }
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("stopped with an error", zap.Error(err))
		return err
	}
	return nil
}

// healthcheckCommand is for container health checks in images without a
// shell.
func healthcheckCommand() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:     "healthcheck [--url URL]",
		Short:   "Exit 0 when URL answers 200 (for container health checks)",
		Example: "  intake healthcheck --url http://127.0.0.1:8080/readyz",
		Args:    args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &http.Client{Timeout: 5 * time.Second}
			resp, err := c.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", url, resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://"+app.Default().HTTPAddr+"/readyz", "URL that must answer 200")
	return cmd
}

// ferretdbCommand runs only the embedded FerretDB (SQLite under
// --data-dir), for deployments and fault tests that run the database as its
// own process. It follows the embedded default's rules: an owner-only Unix
// socket in the data directory unless --listen asks for a loopback TCP
// address.
func ferretdbCommand() *cobra.Command {
	var dataDir, listen string
	cmd := &cobra.Command{
		Use:   "ferretdb [--data-dir DIR] [--listen ADDR]",
		Short: "Run only the embedded FerretDB (for split deployments on one host)",
		Example: "  intake ferretdb --data-dir ./db\n" +
			"  intake ferretdb --data-dir ./db --listen 127.0.0.1:27017",
		Args: args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ferretdb(cmd.Context(), dataDir, listen, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", app.Default().DataDir, "where the SQLite files are kept")
	cmd.Flags().StringVar(&listen, "listen", "", "loopback TCP address (no authentication); empty: the owner-only Unix socket DATA_DIR/mongodb.sock")
	fromEnv(cmd.Flags())
	return cmd
}

func ferretdb(ctx context.Context, dataDir, listen string, stderr io.Writer) error {
	f, err := embedded.StartFerret(dataDir, listen, nil)
	if err != nil {
		return err
	}
	if f.Socket() == "" {
		fmt.Fprintln(stderr, "ferretdb: warning:", embedded.TCPWarning)
	}
	fmt.Fprintln(stderr, "ferretdb listening:", f.URI())
	// Its clients cannot index _id for FerretDB's own filter (the embedded
	// default does it in process); this process does it for them.
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		f.KeepIndexing(ctx, embedded.IndexPeriod, func(err error) { fmt.Fprintln(stderr, "ferretdb: indexing _id:", err) })
	}()
	<-ctx.Done()
	<-indexed
	f.Stop()
	return nil
}
