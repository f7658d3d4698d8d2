package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// client is the HTTP client of the CLI commands.
type client struct {
	server string
	apiKey string
	http   *http.Client
}

func clientFlags(fs *flag.FlagSet) *client {
	c := &client{http: &http.Client{}}
	fs.StringVar(&c.server, "server", envOr("INTAKE_SERVER", "http://127.0.0.1:8080"), "Intake server URL (INTAKE_SERVER)")
	fs.StringVar(&c.apiKey, "api-key", os.Getenv("INTAKE_API_KEY"), "API key (INTAKE_API_KEY)")
	return c
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *client) do(req *http.Request, out any) error {
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

func (c *client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.server, "/")+path, nil)
	if err != nil {
		return err
	}
	return c.do(req, out)
}

// summary is the part of GET /v1/imports/{id} the CLI shows.
type summary struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Total     int    `json:"total"`
	Processed int    `json:"processed"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Skipped   int    `json:"skipped"`
	Failed    int    `json:"failed"`
	Deleted   int    `json:"deleted"`
	Reason    string `json:"reason,omitempty"`
	Notice    string `json:"notice,omitempty"`
	Errors    []struct {
		Row     int    `json:"row"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// importCmd: intake import FILE.
func importCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := clientFlags(fs)
	schema := fs.String("schema", "contacts", "entity schema")
	mode := fs.String("mode", "upsert", "insert, upsert, update or replace")
	key := fs.String("key", "", "reconciliation key field (default: the schema's)")
	dryRun := fs.Bool("dry-run", false, "report what would happen, write nothing")
	emptyClears := fs.Bool("empty-means-clear", false, "update/upsert: an empty cell clears the stored field")
	delimiter := fs.String("delimiter", "", "CSV delimiter: comma, semicolon, pipe, tab, hyphen (default: detected)")
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
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	// Stream the file as multipart; the fields go first, as the API asks.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for k, v := range map[string]string{"schema": *schema, "mode": *mode, "key": *key, "delimiter": *delimiter, "dry_run": fmt.Sprint(*dryRun), "empty_means_clear": fmt.Sprint(*emptyClears)} {
				if v != "" {
					if err := mw.WriteField(k, v); err != nil {
						return err
					}
				}
			}
			fw, err := mw.CreateFormFile("file", filepath.Base(path))
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.server, "/")+"/v1/imports", pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var accepted struct {
		ID   string `json:"id"`
		Rows int    `json:"rows"`
	}
	if err := c.do(req, &accepted); err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	if !*wait {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(accepted)
		}
		fmt.Fprintf(stdout, "%s accepted: %d rows, import %s\n", path, accepted.Rows, accepted.ID)
		return nil
	}
	sum, err := c.follow(ctx, accepted.ID, accepted.Rows, stderr, !*asJSON && isTerminal(stderr))
	if err != nil {
		return err
	}
	return report(sum, stdout, *asJSON)
}

// follow polls the import until it finishes, drawing a progress bar.
func (c *client) follow(ctx context.Context, id string, rows int, w io.Writer, bar bool) (summary, error) {
	start := time.Now()
	for {
		var s summary
		if err := c.get(ctx, "/v1/imports/"+id+"?wait=1s", &s); err != nil {
			return s, err
		}
		if bar {
			drawBar(w, s, rows, time.Since(start))
		}
		if s.Status != "processing" {
			if bar {
				fmt.Fprintln(w)
			}
			return s, nil
		}
	}
}

func drawBar(w io.Writer, s summary, rows int, elapsed time.Duration) {
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
func report(s summary, w io.Writer, asJSON bool) error {
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
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  row %d: %s\n", e.Row, e.Message)
		}
		if s.Failed > len(s.Errors) {
			fmt.Fprintf(w, "  ... all errors: intake errors %s\n", s.ID)
		}
	}
	switch {
	case s.Status == "processing":
		return nil
	case s.Status != "completed":
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
	c := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 0, "wait up to this long for the import to finish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake status [--json] [--wait 30s] ID")
	}
	var s summary
	path := "/v1/imports/" + fs.Arg(0)
	if *wait > 0 {
		path += "?wait=" + wait.String()
	}
	if err := c.get(context.Background(), path, &s); err != nil {
		return err
	}
	return report(s, stdout, *asJSON)
}

// errorsCmd: intake errors ID [--csv].
func errorsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("errors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := clientFlags(fs)
	asCSV := fs.Bool("csv", false, "print row,field,message as CSV")
	asJSON := fs.Bool("json", false, "print JSON")
	skipped := fs.Bool("skipped", false, "list why rows were skipped instead")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake errors [--csv|--json] [--skipped] ID")
	}
	path := "/v1/imports/" + fs.Arg(0) + "/errors"
	if *skipped {
		path += "?result=skipped"
	}
	var out struct {
		Errors []struct {
			Row     int    `json:"row"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := c.get(context.Background(), path, &out); err != nil {
		return err
	}
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
	c := clientFlags(fs)
	tenant := fs.String("tenant", "", "tenant (default: the key's own; another tenant needs an operator key)")
	name := fs.String("name", "", "create: a name for the key")
	caps := fs.String("capabilities", "imports:write,imports:read", "create: comma-separated capabilities")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	base := strings.TrimRight(c.server, "/")
	switch sub {
	case "create":
		body, _ := json.Marshal(map[string]any{"name": *name, "tenant": *tenant, "capabilities": strings.Split(*caps, ",")})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/keys", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		var out map[string]any
		if err := c.do(req, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n(id %v, tenant %v; the key is shown only now)\n", out["key"], out["id"], out["tenant"])
		return nil
	case "list":
		var out struct {
			Keys []struct {
				ID, Prefix, Name, Tenant string
				Capabilities             []string
				RevokedAt                *time.Time `json:"revoked_at"`
			}
		}
		q := ""
		if *tenant != "" {
			q = "?tenant=" + *tenant
		}
		if err := c.get(ctx, "/v1/keys"+q, &out); err != nil {
			return err
		}
		for _, k := range out.Keys {
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
		q := ""
		if *tenant != "" {
			q = "?tenant=" + *tenant
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/v1/keys/"+fs.Arg(0)+q, nil)
		if c.apiKey != "" {
			req.Header.Set("X-API-Key", c.apiKey)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("revoke %s: %s", fs.Arg(0), resp.Status)
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
	c := clientFlags(fs)
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
		return replayWindowCmd(c, *since, *tenant, *mode, *dryRun, stdout)
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake replay [--mode M] [--dry-run] [--json] ID | intake replay --since TIME")
	}
	body := map[string]any{}
	if *mode != "" {
		body["mode"] = *mode
	}
	if *dryRun {
		body["dry_run"] = true
	}
	raw, _ := json.Marshal(body)
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.server, "/")+"/v1/imports/"+fs.Arg(0)+"/replay", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	var accepted struct {
		ID   string `json:"id"`
		Rows int    `json:"rows"`
	}
	if err := c.do(req, &accepted); err != nil {
		return fmt.Errorf("replay %s: %w", fs.Arg(0), err)
	}
	if !*wait {
		fmt.Fprintf(stdout, "replaying %s as import %s (%d rows)\n", fs.Arg(0), accepted.ID, accepted.Rows)
		return nil
	}
	sum, err := c.follow(ctx, accepted.ID, accepted.Rows, stderr, !*asJSON && isTerminal(stderr))
	if err != nil {
		return err
	}
	return report(sum, stdout, *asJSON)
}

func replayWindowCmd(c *client, since, tenant, mode string, dryRun bool, stdout io.Writer) error {
	t, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	body := map[string]any{"since": t}
	if tenant != "" {
		body["tenant"] = tenant
	}
	if mode != "" {
		body["mode"] = mode
	}
	if dryRun {
		body["dry_run"] = true
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, strings.TrimRight(c.server, "/")+"/v1/replay", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		Replays []struct {
			ReplayOf string `json:"replay_of"`
			ID       string `json:"id"`
			Rows     int    `json:"rows"`
		} `json:"replays"`
	}
	if err := c.do(req, &out); err != nil {
		return err
	}
	for _, r := range out.Replays {
		fmt.Fprintf(stdout, "%s -> %s (%d rows)\n", r.ReplayOf, r.ID, r.Rows)
	}
	fmt.Fprintf(stdout, "%d imports replayed\n", len(out.Replays))
	return nil
}

// cancelCmd: intake cancel ID.
func cancelCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := clientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: intake cancel ID")
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, strings.TrimRight(c.server, "/")+"/v1/imports/"+fs.Arg(0)+"/cancel", nil)
	var out map[string]any
	if err := c.do(req, &out); err != nil {
		return fmt.Errorf("cancel %s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "cancelling %s: rows not yet written will fail; see intake status %s\n", fs.Arg(0), fs.Arg(0))
	return nil
}
