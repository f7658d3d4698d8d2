package app

import (
	"sort"
	"testing"
	"time"
)

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
