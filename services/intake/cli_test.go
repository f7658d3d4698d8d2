package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/intake/app/apptest"
)

// startServer runs the whole system (apptest) with tweak applied, and
// returns its base URL; it stops when the test ends.
func startServer(t *testing.T, tweak func(*app.Config)) string {
	t.Helper()
	return apptest.Start(t, apptest.WithConfig(func(c *app.Config) {
		c.EmbeddedNATSAddr = "127.0.0.1:0"
		if tweak != nil {
			tweak(c)
		}
	})).Base
}

func TestCLIImportStatusErrors(t *testing.T) {
	server := startServer(t, nil)
	file := testenv.WriteFile(t, "contacts.csv", []byte("name,email\nAnn,ann@x.io\nBob,\"=HYPERLINK(\"\"x\"\")@\"\n"))
	var out, errb bytes.Buffer
	err := run([]string{"import", "--server", server, "--json", file}, &out, &errb)
	var code exitCode
	if !errors.As(err, &code) || code != exitRowsFailed {
		t.Fatalf("import with a failed row: err=%v, want exit %d; stderr %s", err, exitRowsFailed, errb.String())
	}
	var s client.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	if s.Status != "completed" || s.Created != 1 || s.Failed != 1 {
		t.Fatalf("summary = %+v", s)
	}
	// --json carries the whole summary, as GET /v1/imports/{id} has it.
	var fields map[string]any
	_ = json.Unmarshal(out.Bytes(), &fields)
	for _, k := range []string{"id", "tenant", "status", "schema", "mode", "total", "created", "failed", "errors", "created_at", "updated_at", "completed_at"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("--json has no %q: %s", k, out.String())
		}
	}

	out.Reset()
	if err := run([]string{"status", "--server", server, s.ID}, &out, &errb); !errors.As(err, &code) || code != exitRowsFailed {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(out.String(), ": 2 rows, 1 created") || !strings.Contains(out.String(), "row 3") || strings.Contains(out.String(), "showing") {
		t.Fatalf("status output = %q", out.String())
	}

	out.Reset()
	if err := run([]string{"errors", "--server", server, "--csv", s.ID}, &out, &errb); err != nil {
		t.Fatalf("errors --csv: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != "row,field,code,message" || !strings.HasPrefix(lines[1], "3,email,validation,") {
		t.Fatalf("errors --csv = %q", out.String())
	}

	// --failed-rows writes the failed rows as uploaded, with their reasons:
	// fixed, the file imports.
	out.Reset()
	if err := run([]string{"errors", "--server", server, "--failed-rows", s.ID}, &out, &errb); err != nil {
		t.Fatalf("errors --failed-rows: %v", err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\r\n")
	if len(lines) != 2 || lines[0] != "name,email,intake_reasons" || !strings.HasPrefix(lines[1], `Bob,"'=HYPERLINK(""x"")@","email (validation): '=HYPERLINK(""x"")@' is not`) {
		t.Fatalf("errors --failed-rows = %q", out.String())
	}
	fix := testenv.WriteFile(t, "fix.csv", []byte(strings.Replace(out.String(), `"'=HYPERLINK(""x"")@"`, "bob@x.io", 1)))
	if err := run([]string{"import", "--server", server, fix}, &out, &errb); err != nil {
		t.Fatalf("import of the fixed failed rows: %v", err)
	}
	out.Reset()
	if err := run([]string{"errors", "--server", server, "--failed-rows=xlsx", s.ID}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "PK") {
		t.Fatalf("errors --failed-rows=xlsx: %v, %.20q", err, out.String())
	}
	if err := run([]string{"errors", "--server", server, "--failed-rows", "--csv", s.ID}, &out, &errb); !errors.As(err, new(*usageError)) {
		t.Fatalf("--failed-rows with --csv: %v, want a usage error", err)
	}

	// A clean file exits 0; an unknown schema is a clear error, exit 1.
	clean := testenv.WriteFile(t, "clean.csv", []byte("name,email\nCid,cid@x.io\n"))
	if err := run([]string{"import", "--server", server, clean}, &out, &errb); err != nil {
		t.Fatalf("clean import: %v", err)
	}
	err = run([]string{"import", "--server", server, "--schema", "nope", clean}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "unknown schema") {
		t.Fatalf("unknown schema: %v", err)
	}
}

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(1)": "'=HYPERLINK(1)", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "plain": "plain", "": "",
		"-5": "-5", "+44 20 7946 0958": "+44 20 7946 0958", "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0", "-2+3+cmd|x": "'-2+3+cmd|x"} {
		if got := safeCell(in); got != want {
			t.Errorf("safeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCLIKeys(t *testing.T) {
	const admin = "cli-test-bootstrap-key-0123456789-abcdef"
	server := startServer(t, func(c *app.Config) { c.BootstrapAPIKey = admin })
	var out, errb bytes.Buffer
	if err := run([]string{"keys", "create", "--server", server, "--api-key", admin, "--name", "ci", "--tenant", "acme"}, &out, &errb); err != nil {
		t.Fatalf("keys create: %v %s", err, errb.String())
	}
	newKey := strings.SplitN(out.String(), "\n", 2)[0]
	if !strings.HasPrefix(newKey, "ik_") {
		t.Fatalf("created key %q", newKey)
	}
	// A tenant's admin key manages that tenant only.
	out.Reset()
	if err := run([]string{"keys", "create", "--server", server, "--api-key", admin, "--name", "acme-admin", "--tenant", "acme", "--capabilities", "admin"}, &out, &errb); err != nil {
		t.Fatalf("keys create admin: %v %s", err, errb.String())
	}
	acmeAdmin := strings.SplitN(out.String(), "\n", 2)[0]
	if err := run([]string{"keys", "create", "--server", server, "--api-key", acmeAdmin, "--name", "x", "--tenant", "globex"}, &out, &errb); err == nil ||
		!strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("acme's admin creating a globex key: %v, want 403 naming operator", err)
	}
	out.Reset()
	if err := run([]string{"keys", "create", "--server", server, "--api-key", acmeAdmin, "--name", "y"}, &out, &errb); err != nil || !strings.Contains(out.String(), "tenant acme") {
		t.Fatalf("acme's admin creating an acme key: %v %q", err, out.String())
	}
	file := testenv.WriteFile(t, "c.csv", []byte("name,email\nAnn,ann@x.io\n"))
	if err := run([]string{"import", "--server", server, "--api-key", newKey, file}, &out, &errb); err != nil {
		t.Fatalf("import with the new key: %v", err)
	}
	out.Reset()
	if err := run([]string{"keys", "list", "--server", server, "--api-key", admin, "--tenant", "acme"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	id := strings.Fields(out.String())[0]
	if err := run([]string{"keys", "revoke", "--server", server, "--api-key", admin, "--tenant", "acme", id}, &out, &errb); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := run([]string{"import", "--server", server, "--api-key", newKey, file}, &out, &errb); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("import with a revoked key: %v", err)
	}
}

func TestCLIReplay(t *testing.T) {
	server := startServer(t, nil)
	file := testenv.WriteFile(t, "c.csv", []byte("name,email\nAnn,ann@x.io\n"))
	var out, errb bytes.Buffer
	if err := run([]string{"import", "--server", server, "--json", file}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var s client.Summary
	_ = json.Unmarshal(out.Bytes(), &s)
	out.Reset()
	if err := run([]string{"replay", "--server", server, "--json", s.ID}, &out, &errb); err != nil {
		t.Fatalf("replay: %v %s", err, errb.String())
	}
	var r client.Summary
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Status != "completed" || r.Skipped != 1 || r.ID == s.ID {
		t.Fatalf("replay summary %+v (%v)", r, err)
	}
	// Why the replay's row was skipped, as JSON.
	out.Reset()
	if err := run([]string{"errors", "--server", server, "--skipped", "--json", r.ID}, &out, &errb); err != nil {
		t.Fatalf("errors --skipped: %v", err)
	}
	var skipped struct{ Errors []client.RowError }
	if err := json.Unmarshal(out.Bytes(), &skipped); err != nil || len(skipped.Errors) != 1 || skipped.Errors[0].Row != 2 {
		t.Fatalf("errors --skipped --json = %q (%v)", out.String(), err)
	}
	// A window replays the original, not the replay.
	out.Reset()
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if err := run([]string{"replay", "--server", server, "--since", since, "--dry-run"}, &out, &errb); err != nil {
		t.Fatalf("replay --since: %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], s.ID+" -> imp_") || !strings.HasSuffix(lines[0], " (1 row): completed") || lines[1] != "1 import replayed (dry run: nothing was written)" {
		t.Fatalf("replay --since = %q", out.String())
	}
	// A finished import cannot be cancelled: the API's reason is shown.
	if err := run([]string{"cancel", "--server", server, s.ID}, &out, &errb); err == nil || !strings.Contains(err.Error(), "already finished") {
		t.Fatalf("cancel of a finished import: %v", err)
	}
}

// What people read: a dry run says it was one, counts are pluralised, and a
// cut error list says how much was left out.
func TestCLIDryRunPluralsAndCutErrors(t *testing.T) {
	server := startServer(t, nil)
	t.Setenv("INTAKE_SERVER", server) // the client commands' variable
	one := testenv.WriteFile(t, "one.csv", []byte("name,email\nAnn,ann@x.io\n"))
	var out, errb bytes.Buffer
	if err := run([]string{"import", "--dry-run", one}, &out, &errb); err != nil {
		t.Fatalf("dry run: %v %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "completed (dry run: nothing was written): 1 row, 1 created,") {
		t.Fatalf("dry run output = %q", out.String())
	}
	out.Reset()
	if err := run([]string{"import", "--dry-run", "--json", one}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var dry client.Summary
	if err := json.Unmarshal(out.Bytes(), &dry); err != nil || !dry.DryRun {
		t.Fatalf("dry run --json = %q (%v); want dry_run true", out.String(), err)
	}

	// 148 rows with a bad email each: the summary carries the first 100.
	var csv strings.Builder
	csv.WriteString("name,email\n")
	for i := range 148 {
		fmt.Fprintf(&csv, "P%d,not-an-email-%d\n", i, i)
	}
	bad := testenv.WriteFile(t, "bad.csv", []byte(csv.String()))
	out.Reset()
	err := run([]string{"import", bad}, &out, &errb)
	var code exitCode
	if !errors.As(err, &code) || code != exitRowsFailed {
		t.Fatalf("import of 148 bad rows: %v, want exit %d", err, exitRowsFailed)
	}
	text := out.String()
	if !strings.Contains(text, ": 148 rows, 0 created, 0 updated, 0 skipped, 148 failed") ||
		strings.Count(text, "\n  row ") != 100 || !strings.Contains(text, "  showing 100 of 148 problems; all of them: intake errors imp_") {
		t.Fatalf("import of 148 bad rows printed:\n%s", text)
	}
	id := strings.Fields(text)[1]
	out.Reset()
	if err := run([]string{"errors", id}, &out, &errb); err != nil || strings.Count(out.String(), "\n") != 148 {
		t.Fatalf("intake errors %s: %v, %d lines", id, err, strings.Count(out.String(), "\n"))
	}
}

// --map COLUMN=FIELD becomes the upload's JSON mapping; COLUMN= ignores the
// column; @NAME is a saved mapping, used alone.
func TestMapFlags(t *testing.T) {
	var m columnMaps
	for _, v := range []string{"E-mail 1 - Value=email", "Notes=", "a=b=name"} {
		if err := m.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	opt, err := m.option()
	if err != nil {
		t.Fatal(err)
	}
	var got mapping.Given
	if err := json.Unmarshal([]byte(opt), &got); err != nil {
		t.Fatalf("%s: %v", opt, err)
	}
	email, name := "email", "name"
	if want := (mapping.Given{"E-mail 1 - Value": &email, "Notes": nil, "a=b": &name}); !reflect.DeepEqual(got, want) {
		t.Errorf("mapping %s", opt)
	}
	if err := m.Set("Notes"); err == nil {
		t.Error("a --map without = accepted")
	}
	saved := columnMaps{"@google"}
	if opt, err := saved.option(); err != nil || opt != "@google" {
		t.Errorf("saved: %q %v", opt, err)
	}
	if _, err := append(saved, "x=email").option(); err == nil || !strings.Contains(err.Error(), "used alone") {
		t.Errorf("saved with others: %v", err)
	}
}

// intake import --map sends the columns where the user says, and the
// summary (--json, and status's text) says how each was mapped; a --map
// naming a column the file lacks is the server's 400, exit 1.
func TestCLIImportWithMap(t *testing.T) {
	server := startServer(t, nil)
	file := testenv.WriteFile(t, "crm.csv", []byte("Contact,Primary Mail,Notes\nAnn,ann@x.example,met at a fair\n"))
	var out, errb bytes.Buffer
	if err := run([]string{"import", "--server", server, "--json", "--map", "Primary Mail=email", "--map", "Notes=", file}, &out, &errb); err != nil {
		t.Fatalf("import: %v; stderr %s", err, errb.String())
	}
	var s client.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	if s.Created != 1 || s.Mapping == nil || s.Mapping.Columns[1] != (mapping.Column{Column: "Primary Mail", Field: "email", Reason: mapping.ReasonGiven}) {
		t.Fatalf("summary = %+v (mapping %+v)", s, s.Mapping)
	}
	out.Reset()
	if err := run([]string{"status", "--server", server, s.ID}, &out, &errb); err != nil {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(out.String(), "Primary Mail -> email (given)") || !strings.Contains(out.String(), "ignored: Notes") {
		t.Errorf("status output = %q", out.String())
	}
	err := run([]string{"import", "--server", server, "--map", "Mail=email", file}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `the file has no column "Mail"`) {
		t.Errorf("a column the file lacks: %v", err)
	}
}

// intake errors follows the pages of a list longer than one (1,000
// problems): every problem once, in row order, as text, CSV and JSON.
func TestCLIErrorsFollowsPages(t *testing.T) {
	server := startServer(t, nil)
	t.Setenv("INTAKE_SERVER", server)
	var file strings.Builder
	file.WriteString("name,email\n")
	for i := range 1_200 {
		fmt.Fprintf(&file, "P%d,not-an-email-%d\n", i, i)
	}
	var out, errb bytes.Buffer
	if err := run([]string{"import", testenv.WriteFile(t, "bad.csv", []byte(file.String()))}, &out, &errb); !errors.As(err, new(exitCode)) {
		t.Fatalf("import: %v %s", err, errb.String())
	}
	id := strings.Fields(out.String())[1]
	out.Reset()
	if err := run([]string{"errors", "--csv", id}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1_201 || lines[0] != "row,field,code,message" {
		t.Fatalf("--csv: %d lines, header %q", len(lines), lines[0])
	}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, fmt.Sprintf("%d,email,", i+2)) {
			t.Fatalf("--csv line %d = %q, want row %d", i+1, l, i+2)
		}
	}
	out.Reset()
	if err := run([]string{"errors", "--json", id}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var got struct{ Errors []client.RowError }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Errors) != 1_200 || got.Errors[1_199].Row != 1_201 {
		t.Fatalf("--json: %d errors, %v", len(got.Errors), err)
	}
	out.Reset()
	if err := run([]string{"errors", id}, &out, &errb); err != nil || strings.Count(out.String(), "\n") != 1_200 {
		t.Fatalf("text: %v, %d lines", err, strings.Count(out.String(), "\n"))
	}
}
