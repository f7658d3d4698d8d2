package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/mapping"
)

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
	file := filepath.Join(t.TempDir(), "crm.csv")
	if err := os.WriteFile(file, []byte("Contact,Primary Mail,Notes\nAnn,ann@x.example,met at a fair\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
