package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/templates"
)

// Exit codes of the commands.
const (
	exitOK         = 0 // completed, no failed rows
	exitError      = 1 // could not import (bad request, server error, import ended failed)
	exitUsage      = 2 // no command, an unknown one, or bad flags or arguments
	exitRowsFailed = 3 // completed, but some rows failed
)

// exitCodes is the help text of the exit codes of the commands that import.
const exitCodes = "Exit codes: 0 completed without failed rows, 3 completed with failed rows,\n1 could not import or the import failed, 2 bad command line."

// exitCode carries a process exit code through run's error return.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// serverFlags are the flags every client command has: where the server is
// and the key to send.
type serverFlags struct {
	server string
	apiKey string
}

// clientCommand is a command that talks to a running server: it has the
// server flags, and its action gets the REST client they name.
func clientCommand(cmd *cobra.Command, action func(cmd *cobra.Command, c *client.REST, args []string) error) *cobra.Command {
	f := &serverFlags{}
	cmd.Flags().StringVar(&f.server, "server", "http://127.0.0.1:8080", "Intake server URL")
	cmd.Flags().StringVar(&f.apiKey, "api-key", "", "API key")
	fromEnv(cmd.Flags(), "server", "api-key")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return action(cmd, client.NewREST(f.server, client.WithAPIKey(f.apiKey)), args)
	}
	return cmd
}

// plural counts n things: "1 row", "2 rows".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func importCommand() *cobra.Command {
	var opts client.UploadOptions
	var maps columnMaps
	var wait, asJSON bool
	cmd := clientCommand(&cobra.Command{
		Use:   "import [flags] FILE",
		Short: "Import a CSV, XLSX, JSON, NDJSON or vCard file, with a progress bar",
		Long:  "Upload FILE, follow the import with a progress bar, then print its summary and first errors.\n\n" + exitCodes,
		Example: "  intake import contacts.csv\n" +
			"  intake import --mode replace --dry-run --json people.xlsx\n" +
			"  intake import --map 'E-mail 1 - Value=email' --map 'Notes=' google.csv",
		Args: args(1, "one FILE"),
	}, func(cmd *cobra.Command, c *client.REST, args []string) error {
		mappingOption, err := maps.option()
		if err != nil {
			return err
		}
		opts.Mapping = mappingOption
		return importFile(cmd.Context(), c, args[0], opts, wait, asJSON, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
	fs := cmd.Flags()
	fs.StringVar(&opts.Schema, "schema", "contacts", "entity schema")
	fs.StringVar(&opts.Mode, "mode", "upsert", "insert, upsert, update or replace")
	fs.StringVar(&opts.Key, "key", "", "reconciliation key field (default: the schema's)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "report what would happen, write nothing")
	fs.BoolVar(&opts.EmptyMeansClear, "empty-means-clear", false, "update/upsert: an empty cell clears the stored field")
	fs.StringVar(&opts.Delimiter, "delimiter", "", "CSV delimiter: comma, semicolon, pipe, tab, hyphen (default: detected)")
	fs.Var(&maps, "map", "map a column to a field, 'COLUMN=FIELD' ('COLUMN=' ignores it; repeatable), or use a saved mapping, '@NAME'")
	fs.StringVar(&opts.DateFormat, "date-format", "", "how dates are written: dmy, mdy, ymd or a Go layout such as 02.01.2006 (default: inferred per column)")
	fs.BoolVar(&wait, "wait", true, "wait for the import to finish, showing progress")
	fs.BoolVar(&asJSON, "json", false, "print the whole summary as JSON (for scripts)")
	return cmd
}

func importFile(ctx context.Context, c *client.REST, path string, opts client.UploadOptions, wait, asJSON bool, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	accepted, err := c.Upload(ctx, filepath.Base(path), f, opts)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	if !wait {
		if asJSON {
			return json.NewEncoder(stdout).Encode(accepted)
		}
		fmt.Fprintf(stdout, "%s accepted: %s, import %s\n", path, plural(accepted.Rows, "row"), accepted.ID)
		return nil
	}
	return followAndReport(ctx, c, accepted, asJSON, stdout, stderr)
}

// followAndReport waits for an accepted import, with a progress bar on a
// terminal, then reports it.
func followAndReport(ctx context.Context, c *client.REST, accepted *client.Accepted, asJSON bool, stdout, stderr io.Writer) error {
	sum, err := follow(ctx, c, accepted.ID, accepted.Rows, stderr, !asJSON && isTerminal(stderr))
	if err != nil {
		return err
	}
	return report(ctx, c, sum, stdout, asJSON)
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

// report prints an import's summary and chooses the exit code. When the
// summary's error list is cut, the whole list is asked for to say how much
// was left out.
func report(ctx context.Context, c *client.REST, s *client.Summary, w io.Writer, asJSON bool) error {
	if asJSON {
		if err := json.NewEncoder(w).Encode(s); err != nil {
			return err
		}
	} else {
		problems := len(s.Errors)
		if s.ErrorsTruncated {
			all, err := c.Problems(ctx, s.ID, client.ResultFailed)
			if err != nil {
				return err
			}
			problems = len(all)
		}
		fmt.Fprint(w, summaryText(s, problems))
	}
	return exitFor(s)
}

// exitFor is the exit code a finished import (or undo) ends the command with.
func exitFor(s *client.Summary) error {
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

// summaryText is a summary as people read it; problems is how many errors
// the import has in all (the summary carries the first of them).
func summaryText(s *client.Summary, problems int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "import %s %s", s.ID, s.Status)
	if s.DryRun {
		b.WriteString(" (dry run: nothing was written)")
	}
	fmt.Fprintf(&b, ": %s, %d created, %d updated, %d skipped, %d failed", plural(s.Total, "row"), s.Created, s.Updated, s.Skipped, s.Failed)
	if s.Deleted > 0 {
		fmt.Fprintf(&b, ", %d deleted", s.Deleted)
	}
	b.WriteString("\n")
	for _, msg := range []string{s.Reason, s.Notice} {
		if msg != "" {
			b.WriteString(msg + "\n")
		}
	}
	printMapping(&b, s.Mapping)
	for _, w := range s.Warnings {
		b.WriteString("warning: " + w.Message + "\n")
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "  row %d: %s\n", e.Row, e.Message)
	}
	if problems > len(s.Errors) {
		fmt.Fprintf(&b, "  showing %d of %s; all of them: intake errors %s\n", len(s.Errors), plural(problems, "problem"), s.ID)
	}
	return b.String()
}

func statusCommand() *cobra.Command {
	var wait time.Duration
	var asJSON bool
	cmd := clientCommand(&cobra.Command{
		Use:     "status [--wait 30s] [--json] ID",
		Short:   "Show an import's summary",
		Long:    "Show an import's summary and first errors.\n\n" + exitCodes,
		Example: "  intake status imp_0123456789abcdef\n  intake status --wait 30s --json imp_0123456789abcdef",
		Args:    args(1, "one import ID"),
	}, func(cmd *cobra.Command, c *client.REST, args []string) error {
		s, err := c.Summary(cmd.Context(), args[0], wait)
		if err != nil {
			return err
		}
		return report(cmd.Context(), c, s, cmd.OutOrStdout(), asJSON)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole summary as JSON")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the import to finish")
	return cmd
}

func errorsCommand() *cobra.Command {
	var asCSV, asJSON, skipped bool
	var failedRows string
	cmd := clientCommand(&cobra.Command{
		Use:   "errors [--csv|--json] [--skipped] [--failed-rows[=xlsx]] ID",
		Short: "List an import's row errors, or write its failed rows as a file to fix and upload again",
		Example: "  intake errors imp_0123456789abcdef\n  intake errors --csv imp_0123456789abcdef > errors.csv\n" +
			"  intake errors --failed-rows imp_0123456789abcdef > fix.csv\n  intake errors --failed-rows=xlsx imp_0123456789abcdef > fix.xlsx",
		Args: func(cmd *cobra.Command, got []string) error {
			if asCSV && asJSON {
				return &usageError{cmd: cmd, err: errors.New("--csv and --json: choose one")}
			}
			if cmd.Flags().Changed("failed-rows") {
				if asCSV || asJSON || skipped {
					return &usageError{cmd: cmd, err: errors.New("--failed-rows writes the file itself: no --csv, --json or --skipped with it")}
				}
				if failedRows != client.FormatCSV && failedRows != client.FormatXLSX {
					return &usageError{cmd: cmd, err: errors.New("--failed-rows: the format is csv or xlsx")}
				}
			}
			return args(1, "one import ID")(cmd, got)
		},
	}, func(cmd *cobra.Command, c *client.REST, args []string) error {
		if cmd.Flags().Changed("failed-rows") {
			return c.FailedRows(cmd.Context(), args[0], failedRows, cmd.OutOrStdout())
		}
		result := client.ResultFailed
		if skipped {
			result = client.ResultSkipped
		}
		// Page by page: a large import's problems are never all in memory.
		p := newProblemPrinter(cmd.OutOrStdout(), asCSV, asJSON)
		if err := c.EachErrors(cmd.Context(), args[0], client.ErrorsOptions{Result: result}, func(page client.ErrorsPage) error {
			return p.page(page.Errors)
		}); err != nil {
			return err
		}
		return p.end()
	})
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print row,field,code,message as CSV")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&skipped, "skipped", false, "list why rows were skipped instead")
	cmd.Flags().StringVar(&failedRows, "failed-rows", client.FormatCSV,
		"write the failed rows as uploaded, with a last column of reasons (ignored on upload), as csv or xlsx (--failed-rows=xlsx)")
	cmd.Flags().Lookup("failed-rows").NoOptDefVal = client.FormatCSV
	return cmd
}

// problemPrinter prints an import's problems a page at a time, as text,
// CSV (row,field,code,message) or JSON ({"errors": [...]}).
type problemPrinter struct {
	w             io.Writer
	csv           *csv.Writer
	asJSON, first bool
}

func newProblemPrinter(w io.Writer, asCSV, asJSON bool) *problemPrinter {
	p := &problemPrinter{w: w, asJSON: asJSON, first: true}
	switch {
	case asJSON:
		fmt.Fprint(w, `{"errors":[`)
	case asCSV:
		p.csv = csv.NewWriter(w)
		_ = p.csv.Write([]string{"row", "field", "code", "message"})
	}
	return p
}

func (p *problemPrinter) page(problems []client.RowError) error {
	for _, e := range problems {
		switch {
		case p.asJSON:
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if !p.first {
				fmt.Fprint(p.w, ",")
			}
			p.first = false
			if _, err := p.w.Write(b); err != nil {
				return err
			}
		case p.csv != nil:
			_ = p.csv.Write([]string{fmt.Sprint(e.Row), safeCell(e.Field), e.Code, safeCell(e.Message)})
		default:
			fmt.Fprintf(p.w, "row %d\t%s\t%s\n", e.Row, e.Field, e.Message)
		}
	}
	if p.csv != nil {
		p.csv.Flush()
		return p.csv.Error()
	}
	return nil
}

func (p *problemPrinter) end() error {
	if p.asJSON {
		_, err := fmt.Fprintln(p.w, "]}")
		return err
	}
	return nil
}

// safeCell keeps a spreadsheet from running a cell as a formula (OWASP CSV
// injection) while leaving numbers and phone numbers such as -5 or
// +44 20 7946 0958 as they are: the rule every export of Intake uses.
func safeCell(s string) string { return templates.SafeCell(s) }

// keysCommand: intake keys create|list|revoke (an admin key manages its own
// tenant's keys; an operator key, such as the bootstrap key, any tenant's).
func keysCommand(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys COMMAND",
		Short: "Manage API keys (admin: its tenant's; operator: any tenant's)",
		Example: "  intake keys create --api-key $OPERATOR_KEY --name ci --tenant acme\n" +
			"  intake keys list --tenant acme\n  intake keys revoke --tenant acme key_0123",
		Args: cobra.ArbitraryArgs,
		RunE: groupRun(stderr),
	}
	var tenant, name, caps string
	// sub is one keys command: the server flags and --tenant, and n
	// positional arguments.
	sub := func(c *cobra.Command, n int, what string, action func(*cobra.Command, *client.REST, []string) error) *cobra.Command {
		c.Args = args(n, what)
		c = clientCommand(c, action)
		c.Flags().StringVar(&tenant, "tenant", "", "tenant (default: the key's own; another tenant needs an operator key)")
		return c
	}
	create := sub(&cobra.Command{
		Use:     "create --name N [--tenant T] [--capabilities a,b]",
		Short:   "Create an API key; it is shown only once",
		Example: "  intake keys create --name ci --tenant acme --capabilities imports:write,imports:read",
	}, 0, "no arguments", func(cmd *cobra.Command, c *client.REST, _ []string) error {
		k, err := c.CreateKey(cmd.Context(), client.KeyRequest{Name: name, Tenant: tenant, Capabilities: strings.Split(caps, ",")})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s\n(id %s, tenant %s; the key is shown only now)\n", k.Secret, k.ID, k.Tenant)
		return nil
	})
	create.Flags().StringVar(&name, "name", "", "a name for the key")
	create.Flags().StringVar(&caps, "capabilities", "imports:write,imports:read", "comma-separated capabilities")
	list := sub(&cobra.Command{
		Use:     "list [--tenant T]",
		Short:   "List API keys: id, tenant, name, capabilities, state",
		Example: "  intake keys list --tenant acme",
	}, 0, "no arguments", func(cmd *cobra.Command, c *client.REST, _ []string) error {
		keys, err := c.Keys(cmd.Context(), tenant)
		if err != nil {
			return err
		}
		for _, k := range keys {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Tenant, k.Name, strings.Join(k.Capabilities, ","), state)
		}
		return nil
	})
	revoke := sub(&cobra.Command{
		Use:     "revoke [--tenant T] ID",
		Short:   "Revoke an API key",
		Example: "  intake keys revoke --tenant acme key_0123",
	}, 1, "one key ID", func(cmd *cobra.Command, c *client.REST, args []string) error {
		if err := c.RevokeKey(cmd.Context(), tenant, args[0]); err != nil {
			return fmt.Errorf("revoke %s: %w", args[0], err)
		}
		fmt.Fprintln(cmd.OutOrStdout(), "revoked", args[0])
		return nil
	})
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// replayCommand: intake replay ID — re-run an import's raw rows as a new
// import — or intake replay --since TIME.
func replayCommand() *cobra.Command {
	var opts client.ReplayOptions
	var wait, asJSON bool
	var since, tenant string
	cmd := clientCommand(&cobra.Command{
		Use:   "replay [--mode M] [--dry-run] [--json] ID | replay --since TIME",
		Short: "Run an import's raw rows again as a new import",
		Long: "Run an import's raw rows (kept for --rows-retention) again as a new import, or with --since\n" +
			"every import whose rows arrived since then, e.g. after a database restore.\n\n" + exitCodes,
		Example: "  intake replay imp_0123456789abcdef\n" +
			"  intake replay --mode update --dry-run imp_0123456789abcdef\n" +
			"  intake replay --since 2026-01-31T22:00:00Z",
		Args: func(cmd *cobra.Command, got []string) error {
			if since != "" {
				return args(0, "no import ID with --since")(cmd, got)
			}
			return args(1, "one import ID (or --since TIME)")(cmd, got)
		},
	}, func(cmd *cobra.Command, c *client.REST, args []string) error {
		if since != "" {
			return replayWindow(cmd.Context(), c, since, client.ReplayWindow{Tenant: tenant, Mode: opts.Mode, DryRun: opts.DryRun}, cmd.OutOrStdout())
		}
		accepted, err := c.Replay(cmd.Context(), args[0], opts)
		if err != nil {
			return fmt.Errorf("replay %s: %w", args[0], err)
		}
		if !wait {
			fmt.Fprintf(cmd.OutOrStdout(), "replaying %s as import %s (%s)\n", args[0], accepted.ID, plural(accepted.Rows, "row"))
			return nil
		}
		return followAndReport(cmd.Context(), c, accepted, asJSON, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
	fs := cmd.Flags()
	fs.StringVar(&opts.Mode, "mode", "", "another mode for the replay (default: the original's)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "report what the replay would do, write nothing")
	fs.BoolVar(&wait, "wait", true, "wait for the replay to finish, showing progress")
	fs.BoolVar(&asJSON, "json", false, "print the whole summary as JSON")
	fs.StringVar(&since, "since", "", "instead of one import: replay every import whose rows arrived since this time (RFC 3339), e.g. after a database restore")
	fs.StringVar(&tenant, "tenant", "", "with --since: another tenant's window (needs an admin key)")
	return cmd
}

func replayWindow(ctx context.Context, c *client.REST, since string, w client.ReplayWindow, stdout io.Writer) error {
	t, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	w.Since = t
	replays, err := c.ReplayAll(ctx, w)
	if err != nil {
		return err
	}
	for _, r := range replays {
		fmt.Fprintf(stdout, "%s -> %s (%s): %s\n", r.ReplayOf, r.ID, plural(r.Rows, "row"), r.Status)
	}
	fmt.Fprintf(stdout, "%s replayed", plural(len(replays), "import"))
	if w.DryRun {
		fmt.Fprint(stdout, " (dry run: nothing was written)")
	}
	fmt.Fprintln(stdout)
	return nil
}

func cancelCommand() *cobra.Command {
	return clientCommand(&cobra.Command{
		Use:     "cancel ID",
		Short:   "Cancel an import that is processing",
		Example: "  intake cancel imp_0123456789abcdef",
		Args:    args(1, "one import ID"),
	}, func(cmd *cobra.Command, c *client.REST, args []string) error {
		if err := c.Cancel(cmd.Context(), args[0]); err != nil {
			return fmt.Errorf("cancel %s: %w", args[0], err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "cancelling %s: rows not yet written will fail; see intake status %s\n", args[0], args[0])
		return nil
	})
}
