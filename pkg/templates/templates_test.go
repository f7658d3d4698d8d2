package templates

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/intake/intake/pkg/schema"
)

func TestSafeCell(t *testing.T) {
	neutralised := []string{
		"=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")", "@SUM(A1:A2)", "+cmd|' /C calc'!A0",
		"-2+3", "-cmd|' /C calc'!A0", "+1+1", "\tleading tab", "\rcarriage", "-", "+", "＝1+1",
		"-1e5+A1", "+44 20 7946 0958 =A1", "-SUM(1)", "+12 34",
	}
	for _, v := range neutralised {
		if got := SafeCell(v); got != "'"+v {
			t.Errorf("SafeCell(%q) = %q, want it prefixed with '", v, got)
		}
	}
	kept := []string{
		"", "Ann", "ann@example.com", "-5", "+5", "-3.25", "+3.25", "-1,234.5", "-.5", "1e-3", "-1e-3",
		"+44 20 7946 0958", "+1 (415) 555-2671", "+14155552671", "+49 30/901820", "+123", "a=b", " =not first", "'already",
	}
	for _, v := range kept {
		if got := SafeCell(v); got != v {
			t.Errorf("SafeCell(%q) = %q, want it unchanged", v, got)
		}
	}
}

func loadSchemas(t *testing.T) []*schema.Schema {
	t.Helper()
	files, err := filepath.Glob("../../schemas/entities/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no entity schemas (%v)", err)
	}
	var out []*schema.Schema
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := schema.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, s)
	}
	return out
}

func TestCSV(t *testing.T) {
	s, err := schema.Parse([]byte(`{"name": "t", "keys": ["email"], "fields": [
		{"name": "email", "type": "email", "example": "ann@example.com"},
		{"name": "emails", "type": "list", "item_type": "email", "column": "slashid:emails", "example": "a@example.com,b@example.com"},
		{"name": "balance", "type": "decimal", "example": "-5"},
		{"name": "note", "type": "string", "example": "=1+1"},
		{"name": "phone", "type": "phone", "example": "+44 20 7946 0958"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "email,slashid:emails,balance,note,phone\r\n" +
		"ann@example.com,\"a@example.com,b@example.com\",-5,'=1+1,+44 20 7946 0958\r\n"
	if got := string(CSV(s)); got != want {
		t.Errorf("CSV:\n got %q\nwant %q", got, want)
	}
	// Without examples: the header only.
	s, _ = schema.Parse([]byte(`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string"}]}`))
	if got := string(CSV(s)); got != "a\r\n" {
		t.Errorf("CSV without examples = %q", got)
	}
}

// Every entity schema's templates read back (CSV and XLSX give the same
// cells) and their example row validates against the schema.
func TestTemplatesRoundTrip(t *testing.T) {
	for _, s := range loadSchemas(t) {
		rows, err := csv.NewReader(bytes.NewReader(CSV(s))).ReadAll()
		if err != nil {
			t.Fatalf("%s: CSV: %v", s.Name, err)
		}
		data, err := XLSX(s)
		if err != nil {
			t.Fatalf("%s: XLSX: %v", s.Name, err)
		}
		f, err := excelize.OpenReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: XLSX does not open: %v", s.Name, err)
		}
		if got := f.GetSheetList(); !reflect.DeepEqual(got, []string{s.Name}) {
			t.Errorf("%s: sheets %q", s.Name, got)
		}
		xrows, err := f.GetRows(s.Name)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for len(xrows) > 0 && len(xrows[len(xrows)-1]) == 0 {
			xrows = xrows[:len(xrows)-1]
		}
		for i := range xrows { // GetRows drops trailing empty cells
			for len(xrows[i]) < len(rows[i]) {
				xrows[i] = append(xrows[i], "")
			}
		}
		if !reflect.DeepEqual(xrows, rows) {
			t.Errorf("%s: XLSX cells\n%q\nCSV cells\n%q", s.Name, xrows, rows)
		}
		if !reflect.DeepEqual(rows[0], s.Headers()) {
			t.Errorf("%s: header %q", s.Name, rows[0])
		}
		hm, err := s.MapHeader(rows[0])
		if err != nil {
			t.Errorf("%s: template header: %v", s.Name, err)
			continue
		}
		if len(rows) < 2 {
			if s.Name != "contacts" {
				t.Errorf("%s: no example row", s.Name)
			}
			continue
		}
		if _, errs := s.Validate(hm, rows[1], s.Keys[0]); len(errs) > 0 {
			t.Errorf("%s: example row invalid: %v", s.Name, errs)
		}
	}
}
