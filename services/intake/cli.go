package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/templates"
)

// Exit codes of the client commands.
const (
	exitOK         = 0 // completed, no failed rows
	exitError      = 1 // could not import (bad request, server error, import ended failed)
	exitRowsFailed = 3 // completed, but some rows failed
)

// exitCode carries a process exit code through run's error return.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// serverFlags are the flags every client command has: where the server is
// and the key to send.
type serverFlags struct {
	server string
	apiKey string
}

func clientFlags(fs *flag.FlagSet) *serverFlags {
	f := &serverFlags{}
	fs.StringVar(&f.server, "server", envOr("INTAKE_SERVER", "http://127.0.0.1:8080"), "Intake server URL (INTAKE_SERVER)")
	fs.StringVar(&f.apiKey, "api-key", os.Getenv("INTAKE_API_KEY"), "API key (INTAKE_API_KEY)")
	return f
}

// client is the REST client the flags name (call it after parsing them).
func (f *serverFlags) client() *client.REST {
	return client.NewREST(f.server, client.WithAPIKey(f.apiKey))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// importCmd: intake import FILE.
func importCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := clientFlags(fs)
	schema := fs.String("schema", "contacts", "entity schema")
	mode := fs.String("mode", "upsert", "insert, upsert, update or replace")
	key := fs.String("key", "", "reconciliation key field (default: the schema's)")
	dryRun := fs.Bool("dry-run", false, "report what would happen, write nothing")
	emptyClears := fs.Bool("empty-means-clear", false, "update/upsert: an empty cell clears the stored field")
	delimiter := fs.String("delimiter", "", "CSV delimiter: comma, semicolon, pipe, tab, hyphen (default: detected)")
	var maps columnMaps
	fs.Var(&maps, "map", "map a column to a field, 'COLUMN=FIELD' ('COLUMN=' ignores it; repeatable), or use a saved mapping, '@NAME'")
	wait := fs.Bool("wait", true, "wait for the import to finish, showing progress")
	asJSON := fs.Bool("json", false, "print the summary as JSON (for scripts)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: intake import [flags] FILE\n\nExit codes: 0 completed without failed rows, 3 completed with failed rows, 1 could not import.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitCode(exitError)
	}
	mappingOption, err := maps.option()
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	ctx := context.Background()
	c := sf.client()
	accepted, err := c.Upload(ctx, filepath.Base(path), f, client.UploadOptions{
		Schema: *schema, Mode: *mode, Key: *key, Delimiter: *delimiter, DryRun: *dryRun, EmptyMeansClear: *emptyClears, Mapping: mappingOption})
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	if !*wait {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(accepted)
		}
		fmt.Fprintf(stdout, "%s accepted: %d rows, import %s\n", path, accepted.Rows, accepted.ID)
		return nil
	}
	sum, err := follow(ctx, c, accepted.ID, accepted.Rows, stderr, !*asJSON && isTerminal(stderr))
	if err != nil {
		return err
	}
	return report(sum, stdout, *asJSON)
}

// follow polls the import until it finishes, drawing a progress bar.
func follow(ctx context.Context, c *client.REST, id string, rows int, w io.Writer, bar bool) (*client.Summary, error) {
	start := time.Now()
	for {
		s, err := c.Summary(ctx, id, time.Second)
		if err != nil {
			return nil, err
		}
		if bar {
			drawBar(w, s, rows, time.Since(start))
		}
		if s.Status != client.StatusProcessing {
			if bar {
				fmt.Fprintln(w)
			}
			return s, nil
		}
	}
}

func drawBar(w io.Writer, s *client.Summary, rows int, elapsed time.Duration) {
	total := max(s.Total, rows, 1)
	const width = 30
	done := min(width*s.Processed/total, width)
	rate := float64(s.Processed) / max(elapsed.Seconds(), 0.001)
	fmt.Fprintf(w, "\r[%s%s] %3d%% %d/%d rows  %.0f rows/s  created %d  updated %d  skipped %d  failed %d ",
		strings.Repeat("#", done), strings.Repeat(" ", width-done), 100*s.Processed/total, s.Processed, total, rate,
		s.Created, s.Updated, s.Skipped, s.Failed)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// report prints a finished import and chooses the exit code.
func report(s *client.Summary, w io.Writer, asJSON bool) error {
	if asJSON {
		if err := json.NewEncoder(w).Encode(s); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "import %s %s: %d rows, %d created, %d updated, %d skipped, %d failed", s.ID, s.Status, s.Total, s.Created, s.Updated, s.Skipped, s.Failed)
		if s.Deleted > 0 {
			fmt.Fprintf(w, ", %d deleted", s.Deleted)
		}
		fmt.Fprintln(w)
		for _, msg := range []string{s.Reason, s.Notice} {
			if msg != "" {
				fmt.Fprintln(w, msg)
			}
		}
		printMapping(w, s.Mapping)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  row %d: %s\n", e.Row, e.Message)
		}
		if s.Failed > len(s.Errors) {
			fmt.Fprintf(w, "  ... all errors: intake errors %s\n", s.ID)
		}
	}
	switch {
	case s.Status == client.StatusProcessing:
		return nil
	case s.Status != client.StatusCompleted:
		return exitCode(exitError)
	case s.Failed > 0:
		return exitCode(exitRowsFailed)
	}
	return nil
}

// statusCmd: intake status ID.
func statusCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 0, "wait up to this long for the import to finish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake status [--json] [--wait 30s] ID")
	}
	s, err := sf.client().Summary(context.Background(), fs.Arg(0), *wait)
	if err != nil {
		return err
	}
	return report(s, stdout, *asJSON)
}

// errorsCmd: intake errors ID [--csv].
func errorsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("errors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := clientFlags(fs)
	asCSV := fs.Bool("csv", false, "print row,field,message as CSV")
	asJSON := fs.Bool("json", false, "print JSON")
	skipped := fs.Bool("skipped", false, "list why rows were skipped instead")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake errors [--csv|--json] [--skipped] ID")
	}
	result := client.ResultFailed
	if *skipped {
		result = client.ResultSkipped
	}
	problems, err := sf.client().Problems(context.Background(), fs.Arg(0), result)
	if err != nil {
		return err
	}
	out := struct {
		Errors []client.RowError `json:"errors"`
	}{problems}
	switch {
	case *asJSON:
		return json.NewEncoder(stdout).Encode(out)
	case *asCSV:
		cw := csv.NewWriter(stdout)
		_ = cw.Write([]string{"row", "field", "message"})
		for _, e := range out.Errors {
			_ = cw.Write([]string{fmt.Sprint(e.Row), safeCell(e.Field), safeCell(e.Message)})
		}
		cw.Flush()
		return cw.Error()
	default:
		for _, e := range out.Errors {
			fmt.Fprintf(stdout, "row %d\t%s\t%s\n", e.Row, e.Field, e.Message)
		}
		return nil
	}
}

// safeCell keeps a spreadsheet from running a cell as a formula (OWASP CSV
// injection) while leaving numbers and phone numbers such as -5 or
// +44 20 7946 0958 as they are: the rule every export of Intake uses.
func safeCell(s string) string { return templates.SafeCell(s) }

// keysCmd: intake keys create|list|revoke (an admin key manages its own
// tenant's keys; an operator key, such as the bootstrap key, any tenant's).
func keysCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: intake keys create --name N [--tenant T] [--capabilities a,b] | list [--tenant T] | revoke [--tenant T] ID")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := clientFlags(fs)
	tenant := fs.String("tenant", "", "tenant (default: the key's own; another tenant needs an operator key)")
	name := fs.String("name", "", "create: a name for the key")
	caps := fs.String("capabilities", "imports:write,imports:read", "create: comma-separated capabilities")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	switch sub {
	case "create":
		k, err := sf.client().CreateKey(ctx, client.KeyRequest{Name: *name, Tenant: *tenant, Capabilities: strings.Split(*caps, ",")})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n(id %s, tenant %s; the key is shown only now)\n", k.Secret, k.ID, k.Tenant)
		return nil
	case "list":
		keys, err := sf.client().Keys(ctx, *tenant)
		if err != nil {
			return err
		}
		for _, k := range keys {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Tenant, k.Name, strings.Join(k.Capabilities, ","), state)
		}
		return nil
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("usage: intake keys revoke [--tenant T] ID")
		}
		if err := sf.client().RevokeKey(ctx, *tenant, fs.Arg(0)); err != nil {
			return fmt.Errorf("revoke %s: %w", fs.Arg(0), err)
		}
		fmt.Fprintln(stdout, "revoked", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("unknown keys command %q (create, list, revoke)", sub)
}

// replayCmd: intake replay ID — re-run an import's raw rows as a new import.
func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := clientFlags(fs)
	mode := fs.String("mode", "", "another mode for the replay (default: the original's)")
	dryRun := fs.Bool("dry-run", false, "report what the replay would do, write nothing")
	wait := fs.Bool("wait", true, "wait for the replay to finish, showing progress")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	since := fs.String("since", "", "instead of one import: replay every import whose rows arrived since this time (RFC 3339), e.g. after a database restore")
	tenant := fs.String("tenant", "", "with --since: another tenant's window (needs an admin key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *since != "" {
		return replayWindowCmd(sf.client(), *since, *tenant, *mode, *dryRun, stdout)
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake replay [--mode M] [--dry-run] [--json] ID | intake replay --since TIME")
	}
	ctx := context.Background()
	rc := sf.client()
	accepted, err := rc.Replay(ctx, fs.Arg(0), client.ReplayOptions{Mode: *mode, DryRun: *dryRun})
	if err != nil {
		return fmt.Errorf("replay %s: %w", fs.Arg(0), err)
	}
	if !*wait {
		fmt.Fprintf(stdout, "replaying %s as import %s (%d rows)\n", fs.Arg(0), accepted.ID, accepted.Rows)
		return nil
	}
	sum, err := follow(ctx, rc, accepted.ID, accepted.Rows, stderr, !*asJSON && isTerminal(stderr))
	if err != nil {
		return err
	}
	return report(sum, stdout, *asJSON)
}

func replayWindowCmd(c *client.REST, since, tenant, mode string, dryRun bool, stdout io.Writer) error {
	t, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	replays, err := c.ReplayAll(context.Background(), client.ReplayWindow{Since: t, Tenant: tenant, Mode: mode, DryRun: dryRun})
	if err != nil {
		return err
	}
	for _, r := range replays {
		fmt.Fprintf(stdout, "%s -> %s (%d rows)\n", r.ReplayOf, r.ID, r.Rows)
	}
	fmt.Fprintf(stdout, "%d imports replayed\n", len(replays))
	return nil
}

// cancelCmd: intake cancel ID.
func cancelCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := clientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake cancel ID")
	}
	if err := sf.client().Cancel(context.Background(), fs.Arg(0)); err != nil {
		return fmt.Errorf("cancel %s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "cancelling %s: rows not yet written will fail; see intake status %s\n", fs.Arg(0), fs.Arg(0))
	return nil
}
