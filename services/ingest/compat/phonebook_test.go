package compat_test

import (
	"strings"
	"testing"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/services/ingest/compat"
)

// The seed's csv_content, verbatim.
const seedPhonebookCSV = "name,workemail,cellphone\nJohn Doe,john@example.com,555-1234\nJane Smith,jane@example.com,555-5678\n"

// The seed's request: --form "file=contacts.csv" --form "csv_content=...".
func TestPhonebookSeedRequest(t *testing.T) {
	imp := &fakeImporter{view: allCreated(2)}
	base, creds := phonebookServer(t, imp, nil)
	r := post(t, base+"/phonebook/import/", creds, field("file", "contacts.csv"), field("csv_content", seedPhonebookCSV))
	expect(t, r, 200, `{"message":"phonebook import completed","total_rows":2,"imported_rows":2,"failed_rows":0,"skipped_rows":0,"error_messages":[]}`)
	var res compat.PhonebookResult
	r.decode(t, &res)
	want := compat.PhonebookTenant(auth.Principal{Tenant: "acme", Subject: "user-1"})
	if _, body := imp.lastCSV(t, want, "contacts.csv", envelope.Options{Schema: "phonebook_contacts", Mode: envelope.ModeUpsert}, ""); body != seedPhonebookCSV {
		t.Fatalf("submitted %q", body)
	}
}

func TestPhonebookFilePart(t *testing.T) {
	imp := &fakeImporter{view: allCreated(2)}
	base, creds := phonebookServer(t, imp, nil)
	// A file part wins over csv_content; the path works without its trailing slash too.
	for _, path := range []string{"/phonebook/import/", "/phonebook/import"} {
		r := post(t, base+path, creds, file("file", "contacts.csv", seedPhonebookCSV), field("csv_content", "name\nignored\n"))
		expect(t, r, 200, `{"message":"phonebook import completed","total_rows":2,"imported_rows":2,"failed_rows":0,"skipped_rows":0,"error_messages":[]}`)
		if req, body := imp.last(t); body != seedPhonebookCSV || req.Source != "contacts.csv" {
			t.Fatalf("submitted %q from %q", body, req.Source)
		}
	}
}

// Rows are classified by their problems' codes: a row the validator's
// dead letter failed ("could not be validated") is a failed row, like the
// writer's, not a validation error.
func TestPhonebookCounts(t *testing.T) {
	imp := &fakeImporter{
		view: client.Summary{Status: "completed", Total: 8, Processed: 8, Counts: envelope.Counts{Created: 2, Updated: 1, Skipped: 2, Failed: 3}},
		notes: []envelope.Outcome{
			outcome(3, envelope.Failed, "validation|workemail|workemail: 'jane@' is not a valid email address", "validation|cellphone|cellphone: 'abc' is not a phone number"),
			outcome(5, envelope.Skipped, "duplicate|workemail|duplicate of row 2 (same workemail john@example.com)"),
			outcome(6, envelope.Skipped, "unchanged||unchanged: the record already has these values"),
			outcome(8, envelope.Failed, "dead_letter||could not be processed (write stage): too many redeliveries"),
			outcome(9, envelope.Failed, "dead_letter||could not be validated: too many redeliveries"),
		},
	}
	base, creds := phonebookServer(t, imp, nil)
	r := post(t, base+"/phonebook/import/", creds, file("file", "contacts.csv", seedPhonebookCSV))
	expect(t, r, 200, `{"message":"phonebook import completed","total_rows":8,"imported_rows":4,"failed_rows":2,"skipped_rows":2,"error_messages":[
		"row 3: workemail: 'jane@' is not a valid email address",
		"row 3: cellphone: 'abc' is not a phone number",
		"row 5: duplicate of row 2 (same workemail john@example.com)",
		"row 8: could not be processed (write stage): too many redeliveries",
		"row 9: could not be validated: too many redeliveries"]}`)
}

func TestPhonebookMessagesBounded(t *testing.T) {
	imp := &fakeImporter{view: client.Summary{Status: "completed", Total: 1500, Processed: 1500, Counts: envelope.Counts{Failed: 1500}}}
	for i := 0; i < 1500; i++ {
		imp.notes = append(imp.notes, outcome(i+2, envelope.Failed, "validation|name|name: required"))
	}
	base, creds := phonebookServer(t, imp, nil)
	r := post(t, base+"/phonebook/import/", creds, file("file", "contacts.csv", seedPhonebookCSV))
	var res compat.PhonebookResult
	r.decode(t, &res)
	if res.SkippedRows != 1500 || len(res.ErrorMessages) != compat.MaxPhonebookMessages || res.ErrorMessages[999] != "... and 501 more" {
		t.Fatalf("skipped %d, %d messages, last %q", res.SkippedRows, len(res.ErrorMessages), res.ErrorMessages[len(res.ErrorMessages)-1])
	}
}

func TestPhonebookBadRequests(t *testing.T) {
	imp := &fakeImporter{}
	base, creds := phonebookServer(t, imp, func(c *compat.Config) { c.SyncMaxBytes = 2 << 10 })
	missing := `{"message":"missing file","error":"send the CSV in a multipart file field named \"file\" (or its text in a form field named \"csv_content\")"}`
	expect(t, post(t, base+"/phonebook/import/", creds, field("file", "contacts.csv")), 400, missing)
	expect(t, post(t, base+"/phonebook/import/", creds, field("csv_content", "  \n")), 400, missing)
	expect(t, do(t, "POST", base+"/phonebook/import/", creds, "text/csv", []byte(seedPhonebookCSV)), 400,
		`{"message":"missing file","error":"expected a multipart/form-data body"}`)
	expect(t, post(t, base+"/phonebook/import/", creds, file("file", "c.csv", strings.Repeat("x", 3<<10))), 413,
		`{"message":"file too large","error":"the upload is larger than the limit of 2 KiB"}`)
	if imp.count() != 0 {
		t.Fatal("a bad request was submitted")
	}
}

// Every user has a phonebook of their own: the tenant is derived from the
// principal's tenant and subject, injectively and subject-safely.
func TestPhonebookTenant(t *testing.T) {
	p := func(tenant, sub string) string {
		return compat.PhonebookTenant(auth.Principal{Tenant: tenant, Subject: sub})
	}
	long := strings.Repeat("t", 64)
	seen := map[string]string{}
	for _, c := range [][2]string{
		{"acme", "user-1"}, {"acme", "user-2"}, {"beta", "user-1"},
		{"a_b", "c"}, {"a", "b_c"}, // would collide if tenant and sub were just joined with "_"
		{"acme", "auth0|123"}, {"acme", "auth0_123"}, // would collide if the sub were sanitised
		{long, "x"}, {long[:63] + "u", "x"}, // long tenants are cut in the prefix only
	} {
		got := p(c[0], c[1])
		if err := ids.ValidTenant(got); err != nil {
			t.Errorf("%q/%q -> %q: %v", c[0], c[1], got, err)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%q/%q and %s share the phonebook %q", c[0], c[1], prev, got)
		}
		seen[got] = c[0] + "/" + c[1]
		if !strings.HasPrefix(got, c[0][:min(len(c[0]), 43)]+"_") {
			t.Errorf("%q does not start with the tenant", got)
		}
	}
	if first, again := p("acme", "user-1"), p("acme", "user-1"); first != again {
		t.Fatalf("not stable: %q then %q", first, again)
	}

	// Over HTTP: two users of one tenant import into two phonebooks.
	imp := &fakeImporter{view: allCreated(2)}
	base, creds := phonebookServer(t, imp, nil)
	expect(t, post(t, base+"/phonebook/import/", creds, field("csv_content", seedPhonebookCSV)), 200, "")
	first, _ := imp.last(t)
	expect(t, post(t, base+"/phonebook/import/", bearer(jwt(t, "acme", "user-2", compat.CapPhonebook)), field("csv_content", seedPhonebookCSV)), 200, "")
	second, _ := imp.last(t)
	if first.Tenant == second.Tenant || first.Tenant != p("acme", "user-1") || second.Tenant != p("acme", "user-2") {
		t.Fatalf("tenants %q and %q", first.Tenant, second.Tenant)
	}
}
