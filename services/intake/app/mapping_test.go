package app_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
)

// exportFixture is one of pkg/mapping's exports, written from its format's
// documentation.
func exportFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "pkg", "mapping", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// columnOf is the report's entry for a column.
func columnOf(t *testing.T, v ingest.ImportView, column string) mapping.Column {
	t.Helper()
	if v.Mapping == nil {
		t.Fatalf("summary without a mapping: %+v", v)
	}
	for _, c := range v.Mapping.Columns {
		if c.Column == column {
			return c
		}
	}
	t.Fatalf("no column %q in the mapping report %+v", column, v.Mapping)
	return mapping.Column{}
}

// The exports of issue 19 import into the default contacts schema the way
// their users mean them, with no mapping given: Google Contacts (its
// E-mail 1 - Value is the email, every row failed before), Outlook (first
// and last name composed, the mobile phone first, a row with only a
// business phone imported by phone), HubSpot (first and last name
// composed). Each summary says how every column was mapped.
func TestKnownExportsImport(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	// imported uploads file and waits for it to complete with these counts
	// (created, updated, skipped, failed, deleted).
	imported := func(t *testing.T, file string, fields map[string]string, want [5]int) ingest.ImportView {
		t.Helper()
		status, body := s.upload(exportFixture(t, file), fields)
		if status != 202 {
			t.Fatalf("%s: upload %d %v", file, status, body)
		}
		m, _ := body["mapping"].(map[string]any)
		if m == nil || m["columns"] == nil {
			t.Fatalf("%s: the 202 says nothing of the mapping: %v", file, body)
		}
		v := s.waitDone(body["id"].(string), time.Minute)
		if v.Status != "completed" || counts(v) != want {
			t.Fatalf("summary %+v", v)
		}
		return v
	}
	record := func(id string) map[string]any {
		t.Helper()
		r, ok := s.records("default", "contacts")[id]
		if !ok {
			t.Fatalf("no record %s", id)
		}
		return withoutStamp(r)
	}

	t.Run("Google Contacts", func(t *testing.T) {
		v := imported(t, "google_contacts.csv", nil, [5]int{2, 0, 0, 0, 0})
		// E-mail 1 holds two values: the first is the email.
		if got := record("email:ann@home.example"); got["name"] != "Ann B Smith" || got["phone"] != "+14155552671" || got["company"] != "Example Corp" {
			t.Errorf("Ann = %v", got)
		}
		if got := record("email:bob@work.example"); got["name"] != "Bob Jones" || got["phone"] != "+12125550100" {
			t.Errorf("Bob = %v", got)
		}
		if v.Mapping.Export != "Google Contacts" {
			t.Errorf("export = %q", v.Mapping.Export)
		}
		if c := columnOf(t, v, "E-mail 1 - Value"); c.Field != "email" || c.Reason != mapping.ReasonKnownExport || c.Note == "" {
			t.Errorf("E-mail 1 - Value: %+v", c)
		}
		if c := columnOf(t, v, "Middle Name"); c.Field != "name" || c.Note != "part of the name" {
			t.Errorf("Middle Name: %+v", c)
		}
		if !slices.Contains(v.Mapping.Ignored, "Notes") || !slices.Contains(v.Mapping.Ignored, "Birthday") {
			t.Errorf("ignored = %v", v.Mapping.Ignored)
		}
	})

	t.Run("Outlook", func(t *testing.T) {
		// Ann, found by her mobile phone (the first of the phones), is the
		// contact Google's export created under her email: updated.
		v := imported(t, "outlook.csv", map[string]string{"key": "phone"}, [5]int{1, 1, 0, 0, 0})
		if got := record("email:ann@home.example"); got["name"] != "Ann Smith" || got["email"] != "ann@work.example" || got["company"] != "Example Corp" {
			t.Errorf("Ann (by her mobile phone, the first of the phones) = %v", got)
		}
		if got := record("phone:+12125550199"); got["name"] != "Bob Jones" || got["company"] != "Other Inc" {
			t.Errorf("Bob (only a business phone) = %v", got)
		}
		if c := columnOf(t, v, "Mobile Phone"); c.Field != "phone" || c.Reason != mapping.ReasonKnownExport {
			t.Errorf("Mobile Phone: %+v", c)
		}
		if c := columnOf(t, v, "Title"); c.Field != "" || c.Reason != mapping.ReasonIgnored {
			t.Errorf("Title (a courtesy title): %+v", c)
		}
	})

	t.Run("HubSpot", func(t *testing.T) {
		// Ann, found by the email Outlook's export gave her: as she is.
		v := imported(t, "hubspot.csv", nil, [5]int{0, 0, 1, 0, 0})
		if got := record("email:ann@home.example"); got["name"] != "Ann Smith" || got["phone"] != "+14155552671" || got["company"] != "Example Corp" {
			t.Errorf("Ann = %v", got)
		}
		if c := columnOf(t, v, "First Name"); c.Field != "name" || c.Export != "HubSpot" {
			t.Errorf("First Name: %+v", c)
		}
	})
}

// A mapping given with the upload (form field or query parameter) or saved
// and used by name sends columns where the user says; the summary records
// the mapping used (a saved one resolved); a replay maps alike; a mapping
// or file that cannot be imported is a 400 that says why.
func TestGivenAndSavedMappings(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	const file = "Contact,Mail 1,Telephone,Notes\nAnn,ann@x.example,+1 415 555 2671,met at a fair\n"
	given := `{"Mail 1": "email", "Telephone": null}`

	v := s.importCSV(file, map[string]string{"mapping": given})
	if v.Status != "completed" || v.Created != 1 {
		t.Fatalf("form field: %+v", v)
	}
	got := withoutStamp(s.records("default", "contacts")["email:ann@x.example"])
	if got["name"] != "Ann" || got["phone"] != nil || len(got) != 2 {
		t.Errorf("record %v: Contact is the name (an alias), Mail 1 the email (given), Telephone ignored", got)
	}
	if c := columnOf(t, v, "Mail 1"); c.Field != "email" || c.Reason != mapping.ReasonGiven {
		t.Errorf("Mail 1: %+v", c)
	}
	if c := columnOf(t, v, "Telephone"); c.Field != "" || !slices.Contains(v.Mapping.Ignored, "Telephone") {
		t.Errorf("Telephone: %+v, ignored %v", c, v.Mapping.Ignored)
	}

	// The replay reads the raw rows and maps them as the original did.
	status, out := s.call("POST", "/v1/imports/"+v.ID+"/replay", nil, strings.NewReader(""), "application/json")
	if status != 202 {
		t.Fatalf("replay: %d %v", status, out)
	}
	if r := s.waitDone(out["id"].(string), time.Minute); r.Status != "completed" || r.Failed != 0 || r.Skipped != 1 ||
		columnOf(t, r, "Mail 1").Reason != mapping.ReasonGiven {
		t.Errorf("replay %+v: the same row, unchanged, mapped alike", r)
	}

	// As a query parameter.
	body, ctype := testenv.UploadForm("c.csv", []byte(strings.Replace(file, "ann@", "ann2@", 1)), nil)
	status, out = s.call("POST", "/v1/imports?mapping="+url.QueryEscape(given), nil, body, ctype)
	if status != 202 {
		t.Fatalf("query parameter: %d %v", status, out)
	}
	if v := s.waitDone(out["id"].(string), time.Minute); v.Created != 1 || columnOf(t, v, "Mail 1").Reason != mapping.ReasonGiven {
		t.Errorf("query parameter: %+v", v)
	}

	// Saved, read back, used by name, deleted.
	status, out = s.call("PUT", "/v1/mappings/fair", nil, strings.NewReader(given), "application/json")
	if status != 200 {
		t.Fatalf("save: %d %v", status, out)
	}
	if status, out := s.call("GET", "/v1/mappings/fair", nil, nil, ""); status != 200 || out["mapping"].(map[string]any)["Mail 1"] != "email" {
		t.Fatalf("read: %d %v", status, out)
	}
	v = s.importCSV(strings.Replace(file, "ann@", "ann3@", 1), map[string]string{"mapping": "@fair"})
	if v.Created != 1 || columnOf(t, v, "Mail 1").Reason != mapping.ReasonGiven || columnOf(t, v, "Telephone").Field != "" {
		t.Errorf("saved mapping used: %+v", v)
	}
	if status, _ := s.call("DELETE", "/v1/mappings/fair", nil, nil, ""); status != 204 {
		t.Errorf("delete: %d", status)
	}
	if status, _ := s.call("GET", "/v1/mappings/fair", nil, nil, ""); status != 404 {
		t.Errorf("read after delete: %d", status)
	}

	for _, tc := range []struct {
		name, file, mapping, key, want string
	}{
		{"bad JSON", file, `{"Mail 1": `, "", "mapping: not a JSON object"},
		{"unknown field", file, `{"Mail 1": "fax"}`, "", `schema contacts has no field "fax"`},
		{"column the file lacks", file, `{"E-mail": "email"}`, "", `the file has no column "E-mail"`},
		{"unknown saved mapping", file, "@nope", "", `no saved mapping named "nope"`},
		{"no column for the key", "Name,Phone\nAnn,+1 415 555 2671\n", "", "",
			`no column provides email (required as the reconciliation key): map one with mapping=`},
		{"the key's column ignored", file, `{"Mail 1": null}`, "", "no column provides email (required as the reconciliation key)"},
		{"mapping too long", file, `{"Mail 1": "` + strings.Repeat("e", 70_000) + `"}`, "", "mapping: longer than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]string{}
			if tc.mapping != "" {
				fields["mapping"] = tc.mapping
			}
			status, out := s.upload([]byte(tc.file), fields)
			if msg, _ := out["error"].(string); status != 400 || !strings.Contains(msg, tc.want) {
				t.Errorf("%d %v, want 400 with %q", status, out, tc.want)
			}
		})
	}
}
