package app_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// An XLSX goes through the same pipeline; numbers stored as numbers come out
// as the person sees them (a phone number is not 2.0155501E+09).
func TestImportXLSX(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	f := excelize.NewFile()
	rows := [][]any{
		{"Name", "Email Address", "Phone", "Company"},
		{"Ann", "ann@example.com", int64(2015550123), "Acme"},
		{"Bob", "bob@", nil, "Beta"},
		{"Cid", "cid@example.com", 2015550124.0, nil},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	status, body := s.upload(buf.Bytes(), nil)
	if status != 202 {
		t.Fatalf("upload: %d %v", status, body)
	}
	v := s.waitDone(body["id"].(string), time.Minute)
	if counts(v) != [5]int{2, 0, 0, 1, 0} || v.Errors[0].Row != 3 {
		t.Fatalf("xlsx import = %v %+v", counts(v), v.Errors)
	}
	recs := s.records("default", "contacts")
	if got := recs["email:ann@example.com"]["phone"]; got != "+12015550123" {
		t.Fatalf("phone from a numeric cell = %v", got)
	}
}

func TestFileFormats(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	// A German Excel export: semicolons, Windows-1252.
	v := s.importCSV("Name;E-Mail;Company\nM\xfcller;mueller@example.com;Stra\xdfe GmbH\n", nil)
	if v.Created != 1 {
		t.Fatalf("semicolon/1252 import = %+v", v)
	}
	if got := s.records("default", "contacts")["email:mueller@example.com"]; got["name"] != "Müller" || got["company"] != "Straße GmbH" {
		t.Fatalf("1252 text mangled: %v", got)
	}
	for name, c := range map[string]struct {
		data   string
		status int
		msg    string
	}{
		"png":        {"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 400, "PNG"},
		"broken zip": {"PK\x03\x04garbage", 400, ""},
		"bom only":   {"\xef\xbb\xbf", 400, "empty"},
	} {
		status, body := s.upload([]byte(c.data), nil)
		if status != c.status || !strings.Contains(body["error"].(string), c.msg) {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}
}

// A filled-in template imports as it is.
func TestTemplatesImport(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	for _, name := range []string{"customers", "community_users", "audience_users", "phonebook_contacts", "persons"} {
		for _, format := range []string{"csv", "xlsx"} {
			status, data := s.getBody("/v1/schemas/" + name + "/template." + format)
			if status != 200 {
				t.Fatalf("%s template.%s: %d %s", name, format, status, data)
			}
			v := s.importCSV(string(data), map[string]string{"schema": name})
			if v.Status != "completed" || v.Failed != 0 || v.Total != 1 {
				t.Fatalf("%s template.%s imported as %+v", name, format, v)
			}
		}
	}
}
