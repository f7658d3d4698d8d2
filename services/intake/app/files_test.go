package app_test

// Uploads in each file format Intake reads: XLSX, CSV in other encodings
// and delimiters, JSON, NDJSON and vCard, the schemas' own templates, and
// files that only pretend to be one of them.

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// An XLSX goes through the same pipeline; numbers stored as numbers come out
// as the person sees them (a phone number is not 2.0155501E+09).
func TestImportXLSX(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	book := workbook(t, [][]any{
		{"Name", "Email Address", "Phone", "Company"},
		{"Ann", "ann@example.com", int64(2015550123), "Acme"},
		{"Bob", "bob@", nil, "Beta"},
		{"Cid", "cid@example.com", 2015550124.0, nil},
	})
	status, body := s.upload(book, nil)
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

// JSON, NDJSON and vCard uploads go through the same pipeline as CSV,
// detected from the content (the upload's file name says .csv), with row
// numbers that are item, line and card numbers.
func TestImportJSONNDJSONAndVCard(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	for _, c := range []struct {
		name       string
		data       string
		counts     [5]int // created, updated, skipped, failed, deleted
		failedRows []int
	}{{
		name: "json",
		data: `[
		  {"name": "Ann Json", "email": "ann@json.example", "company": "Acme", "address": {"city": "Köln"}},
		  {"name": "Bob Json", "email": "not-an-email"},
		  "not an object",
		  {"name": "Cy Json", "email": "cy@json.example", "phone": "(415) 555-0101", "tags": ["a", "b"]}
		]`,
		counts:     [5]int{2, 0, 0, 2, 0},
		failedRows: []int{2, 3},
	}, {
		name:       "ndjson",
		data:       "{\"name\": \"Dee Nd\", \"email\": \"dee@nd.example\"}\n{\"name\": \"broken\"\n\n{\"email\": \"eve@nd.example\", \"company\": \"Beta\"}\n",
		counts:     [5]int{2, 0, 0, 1, 0},
		failedRows: []int{2},
	}, {
		name: "vcard",
		data: "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\nORG:Analytical Engines\r\n" +
			"EMAIL;TYPE=HOME:ada@home.example\r\nEMAIL;TYPE=WORK,pref:ada@work.exa\r\n mple\r\nEND:VCARD\r\n" +
			"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Phone Only\r\nEMAIL:phone@vcf.example\r\nTEL;TYPE=cell;VALUE=uri:tel:+1-415-555-0102\r\nEND:VCARD\r\n" +
			"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Way To Reach\r\nEND:VCARD\r\n",
		counts:     [5]int{2, 0, 0, 1, 0},
		failedRows: []int{3},
	}} {
		status, body := s.upload([]byte(c.data), nil)
		if status != 202 {
			t.Fatalf("%s upload: %d %v", c.name, status, body)
		}
		v := s.waitDone(body["id"].(string), time.Minute)
		if v.Status != "completed" || counts(v) != c.counts {
			t.Fatalf("%s import: status %s, counts %v, want %v; errors %+v", c.name, v.Status, counts(v), c.counts, v.Errors)
		}
		var rows []int // a row may have several errors
		for _, e := range v.Errors {
			if len(rows) == 0 || rows[len(rows)-1] != e.Row {
				rows = append(rows, e.Row)
			}
		}
		sort.Ints(rows)
		if len(rows) != len(c.failedRows) {
			t.Fatalf("%s: failed rows %v, want %v (%+v)", c.name, rows, c.failedRows, v.Errors)
		}
		for i := range rows {
			if rows[i] != c.failedRows[i] {
				t.Fatalf("%s: failed rows %v, want %v (%+v)", c.name, rows, c.failedRows, v.Errors)
			}
		}
	}
	recs := s.records("default", "contacts")
	for email, want := range map[string]map[string]string{
		"ann@json.example":  {"name": "Ann Json", "company": "Acme"},
		"cy@json.example":   {"name": "Cy Json", "phone": "+14155550101"},
		"dee@nd.example":    {"name": "Dee Nd"},
		"eve@nd.example":    {"company": "Beta"},
		"ada@work.example":  {"name": "Ada Lovelace", "company": "Analytical Engines"}, // the preferred of two
		"phone@vcf.example": {"name": "Phone Only", "phone": "+14155550102"},
	} {
		got, ok := recs["email:"+email]
		if !ok {
			t.Errorf("no record for %s (records: %v)", email, recs)
			continue
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s = %v, want %s", email, k, got[k], w)
			}
		}
	}
}

// Hostile JSON and vCard uploads get a clear answer and cost a bounded
// amount: an endless item stops the file with the rows before it imported,
// deep nesting and an unterminated card fail their rows only.
func TestHostileTextUploads(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)

	// One 9 MiB string in item 2: the file stops there, item 1 is imported.
	huge := `[{"email": "first@hostile.test"}, {"email": "` + strings.Repeat("x", 9<<20) + `"}]`
	status, body := s.upload([]byte(huge), nil)
	if status != 400 || !strings.Contains(body["error"].(string), "item 2 is longer than 8 MiB of JSON") {
		t.Fatalf("huge item: %d %v", status, body)
	}
	v := s.waitDone(body["import_id"].(string), time.Minute)
	if v.Status != "failed" || v.Created != 1 {
		t.Fatalf("huge item import: %+v", v)
	}

	// 10,000 nested objects fail their row; the next line is imported.
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	nd := `{"email": "deep@hostile.test", "x": ` + deep + "}\n" + `{"email": "after-deep@hostile.test"}` + "\n"
	status, body = s.upload([]byte(nd), nil)
	if status != 202 {
		t.Fatalf("deep: %d %v", status, body)
	}
	v = s.waitDone(body["id"].(string), time.Minute)
	if counts(v) != [5]int{1, 0, 0, 1, 0} || v.Errors[0].Row != 1 || !strings.Contains(v.Errors[0].Message, "nested more than") {
		t.Fatalf("deep import: %v %+v", counts(v), v.Errors)
	}

	// A card that never ends (100,000 lines) fails alone.
	endless := "BEGIN:VCARD\r\nFN:Fine\r\nEMAIL:fine@hostile.test\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Endless\r\n" + strings.Repeat("EMAIL:x@hostile.test\r\n", 100000)
	status, body = s.upload([]byte(endless), nil)
	if status != 202 {
		t.Fatalf("endless card: %d %v", status, body)
	}
	v = s.waitDone(body["id"].(string), time.Minute)
	if counts(v) != [5]int{1, 0, 0, 1, 0} || v.Errors[0].Row != 2 {
		t.Fatalf("endless card import: %v %+v", counts(v), v.Errors)
	}
	t.Logf("endless card: %s", v.Errors[0].Message)
}

// A JSON upload is flattened by the schema: an object under a json field's
// key is that field's value, and an array under a list field's key its
// items.
func TestJSONFlattenedBySchema(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	v := s.importCSV(`[
	  {"slashid:emails": ["ja@json.example", "jb@json.example"], "slashid:attributes": {"end_user_read_write": {"nickname": "J", "n": 2}}},
	  {"slashid:emails": ["kc@json.example"], "slashid:usernames": ["kay", "kc"]}
	]`, map[string]string{"schema": "persons"})
	if counts(v) != [5]int{2, 0, 0, 0, 0} {
		t.Fatalf("persons from JSON: %v %+v", counts(v), v.Errors)
	}
	recs := s.records("default", "persons")
	j := recs["emails:ja@json.example"]
	if emails := fmt.Sprint(j["emails"]); emails != "[ja@json.example jb@json.example]" {
		t.Fatalf("emails stored as %s (%v)", emails, recs)
	}
	if nick := asM(asM(j["attributes"])["end_user_read_write"])["nickname"]; nick != "J" {
		t.Fatalf("attributes stored as %v", j["attributes"])
	}
	if u := fmt.Sprint(recs["emails:kc@json.example"]["usernames"]); u != "[kay kc]" {
		t.Fatalf("usernames stored as %s", u)
	}
}
