// Command intake runs the Intake importer: all services in one process (the
// default) or any subset of them.
//
//	intake serve [--target=all|ingest,validator,...] [flags]
//	intake import [--schema --mode --key --server --api-key --wait --json] FILE
//	intake status [--wait 30s] [--json] ID
//	intake errors [--csv|--json] [--skipped] ID
//	intake replay [--mode M] [--dry-run] ID
//	intake keys create --name N [--tenant T] [--capabilities a,b] | list | revoke ID
//	intake healthcheck --url=http://127.0.0.1:8080/readyz
//
// Every flag can also be set with an INTAKE_* environment variable, e.g.
// --nats-url as INTAKE_NATS_URL; a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/logging"
	"github.com/intake/intake/services/intake/app"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintln(os.Stderr, "intake:", err)
		os.Exit(exitError)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "healthcheck":
		return healthcheck(args, stderr)
	case "ferretdb":
		return ferretdb(context.Background(), args, stderr)
	case "import":
		return importCmd(args, stdout, stderr)
	case "status":
		return statusCmd(args, stdout, stderr)
	case "errors":
		return errorsCmd(args, stdout, stderr)
	case "keys":
		return keysCmd(args, stdout, stderr)
	case "replay":
		return replayCmd(args, stdout, stderr)
	case "cancel":
		return cancelCmd(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q (serve, import, status, errors, replay, cancel, keys, healthcheck)", cmd)
	}
}

const usage = `usage:
  intake serve [flags]                 run the importer (all services by default)
  intake import [flags] FILE           import a CSV or XLSX file, with a progress bar
  intake status [--wait 30s] ID        show an import's summary
  intake errors [--csv] ID             list an import's row errors
  intake replay [--mode M] [--dry-run] ID  run an import's raw rows again as a new import
  intake cancel ID                     cancel an import that is processing
  intake keys create|list|revoke       manage API keys (admin: its tenant's; operator: any tenant's)
  intake healthcheck --url URL         exit 0 when URL answers 200
run 'intake COMMAND -h' for the flags of a command`

// parseWithEnv lets INTAKE_* variables set flags; the command line wins.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "INTAKE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", env, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The flags start from the defaults in effect (app.Default), written once.
	var (
		cfg       = app.Default()
		target    string
		logLevel  string
		maxUpload int64
	)
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
	fs.Int64Var(&maxUpload, "max-upload-bytes", cfg.MaxUploadBytes, "largest accepted upload (413 above)")
	fs.IntVar(&cfg.MaxRows, "max-rows", cfg.MaxRows, "most rows per import (422 above; at most 1,000,000,000)")
	fs.IntVar(&cfg.MaxConcurrent, "max-concurrent-imports", cfg.MaxConcurrent, "imports one tenant may have processing at once (429 above; 0: no limit)")
	fs.IntVar(&cfg.MaxEventStreams, "max-event-streams", cfg.MaxEventStreams, "event streams (GET /v1/imports/{id}/events) one tenant may hold open per ingest process (429 above)")
	fs.StringVar(&cfg.TenantLimitsFile, "tenant-limits", "", "JSON file with per-tenant limits overriding the defaults (see README)")
	fs.IntVar(&cfg.Instances, "instances", cfg.Instances, "instances of each selected service in this process")
	fs.IntVar(&cfg.Partitions.Partitions, "partitions", cfg.Partitions.Partitions, "partitions of the deduplicator's, writer's and reporter's streams; the same for every process (stored in the streams)")
	fs.DurationVar(&cfg.Partitions.PinnedTTL, "pinned-ttl", cfg.Partitions.PinnedTTL, "how long an instance may stop pulling a partition before another takes it over")
	fs.IntVar(&cfg.Partitions.Index, "instance-index", 0, "index of this process's first instance among all instances of its services (spreads the partitions)")
	fs.IntVar(&cfg.Partitions.Instances, "instance-count", 0, "instances of each service over all processes; 0: this process's --instances")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a graceful shutdown may take")
	fs.DurationVar(&cfg.Runner.AckWait, "ack-wait", cfg.Runner.AckWait, "how long a chunk may go unacknowledged before it is redelivered (e.g. after a crash)")
	fs.DurationVar(&cfg.UnsealedTimeout, "unsealed-timeout", cfg.UnsealedTimeout, "an import without progress for this long (never sealed, rows missing) ends failed; negative: never")
	fs.StringVar(&cfg.BootstrapAPIKey, "bootstrap-api-key", "", "creates (idempotently) the operator API key (every capability, every tenant) of tenant default with this value")
	fs.StringVar(&cfg.JWTHS256Secret, "jwt-hs256-secret", "", "secret that verifies HS256 bearer tokens (at least 32 bytes)")
	fs.StringVar(&cfg.JWTJWKSFile, "jwt-jwks-file", "", "JWKS file with the public keys that verify RS256/ES256 bearer tokens")
	fs.DurationVar(&cfg.JWTMaxLifetime, "jwt-max-lifetime", cfg.JWTMaxLifetime, "longest a bearer token may be valid: exp at most this long after iat (or after now without iat)")
	fs.StringVar(&cfg.JWTIssuer, "jwt-issuer", "", "if set, bearer tokens must carry this iss claim")
	fs.StringVar(&cfg.JWTAudience, "jwt-audience", "", "if set, bearer tokens must carry this value in their aud claim")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies (an ingress) whose X-Forwarded-For names the client; empty: use the connection's address")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "if set, serve Go's pprof profiles on this address (keep it on loopback)")
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Targets = strings.Split(target, ",")
	for i := range cfg.Targets {
		cfg.Targets[i] = strings.TrimSpace(cfg.Targets[i])
	}
	cfg.MaxUploadBytes = maxUpload

	log, err := logging.New(logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Ready = func(i app.Info) { app.Banner(stderr, i) }
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("stopped with an error", zap.Error(err))
		return err
	}
	return nil
}

// healthcheck is for container health checks in images without a shell.
func healthcheck(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://"+app.Default().HTTPAddr+"/readyz", "URL that must answer 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(*url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", *url, resp.Status)
	}
	return nil
}

// ferretdb runs only the embedded FerretDB (SQLite under --data-dir), for
// deployments and fault tests that run the database as its own process.
// It follows the embedded default's rules: an owner-only Unix socket in the
// data directory unless --listen asks for a loopback TCP address.
func ferretdb(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", app.Default().DataDir, "where the SQLite files are kept")
	listen := fs.String("listen", "", "loopback TCP address (no authentication); empty: the owner-only Unix socket DATA_DIR/mongodb.sock")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	f, err := embedded.StartFerret(*dataDir, *listen, nil)
	if err != nil {
		return err
	}
	if f.Socket() == "" {
		fmt.Fprintln(stderr, "ferretdb: warning:", embedded.TCPWarning)
	}
	fmt.Fprintln(stderr, "ferretdb listening:", f.URI())
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Its clients cannot index _id for FerretDB's own filter (the embedded
	// default does it in process); this process does it for them.
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		f.KeepIndexing(ctx, 200*time.Millisecond, func(err error) { fmt.Fprintln(stderr, "ferretdb: indexing _id:", err) })
	}()
	<-ctx.Done()
	<-indexed
	f.Stop()
	return nil
}
