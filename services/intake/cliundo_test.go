package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/testenv"
)

// intake undo: a dry run says what it would do, the undo does it, and a
// second undo fails naming the first.
func TestCLIUndo(t *testing.T) {
	server := startServer(t, nil)
	file := testenv.WriteFile(t, "contacts.csv", []byte("name,email\nAnn,ann@x.io\nBob,bob@x.io\n"))
	var out, errb bytes.Buffer
	if err := run([]string{"import", "--server", server, "--json", file}, &out, &errb); err != nil {
		t.Fatalf("import: %v %s", err, errb.String())
	}
	var imp client.Summary
	if err := json.Unmarshal(out.Bytes(), &imp); err != nil || imp.Created != 2 {
		t.Fatalf("import: %+v %v", imp, err)
	}
	out.Reset()
	if err := run([]string{"undo", "--server", server, "--dry-run", imp.ID}, &out, &errb); err != nil {
		t.Fatalf("undo --dry-run: %v %s", err, errb.String())
	}
	if got := out.String(); !strings.Contains(got, "of "+imp.ID+" completed (dry run: nothing was changed): 2 reversed, 0 kept, 0 failed") {
		t.Fatalf("undo --dry-run printed %q", got)
	}
	out.Reset()
	if err := run([]string{"undo", "--server", server, "--json", imp.ID}, &out, &errb); err != nil {
		t.Fatalf("undo: %v %s", err, errb.String())
	}
	var undo client.Summary
	if err := json.Unmarshal(out.Bytes(), &undo); err != nil || undo.UndoOf != imp.ID || undo.Reversed != 2 || undo.Status != "completed" {
		t.Fatalf("undo --json: %+v %v (%s)", undo, err, out.String())
	}
	errb.Reset()
	err := run([]string{"undo", "--server", server, imp.ID}, &out, &errb)
	if err == nil || !strings.Contains(err.Error()+errb.String(), undo.ID) {
		t.Fatalf("second undo: %v %s, want an error naming %s", err, errb.String(), undo.ID)
	}
}
