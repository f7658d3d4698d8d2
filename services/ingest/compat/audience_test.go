package compat_test

import (
	"errors"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/services/ingest/compat"
)

const audienceCSV = "First Name;Last Name;Email;Mobile Number;Country;State;Last Active Date\n" +
	"User;One;one@example.com;+1 415 555 2671;United States;California;2024-03-31\n" +
	"User;Seven;seven@example.com;+1 415 555 2677;United States;Texas;\n"

func TestAudienceImport(t *testing.T) {
	cases := []struct {
		importType, delimiter, key string
		mode, wantDelim            string
	}{
		{"", "", "", envelope.ModeInsert, ""},
		{"insert", "COMMA", "email", envelope.ModeInsert, "comma"},
		{"upsert", "SEMI_COLON", "mobileNumber", envelope.ModeUpsert, "semicolon"},
		{"delsert", "PIPE", "", envelope.ModeReplace, "pipe"},
		{"UPSERT", "hyphen", "", envelope.ModeUpsert, "hyphen"},
	}
	for _, c := range cases {
		imp := &fakeImporter{}
		base, creds := audienceServer(t, imp)
		parts := []part{file("uploadFile", "users.csv", audienceCSV)}
		if c.importType != "" {
			parts = append(parts, field("importType", c.importType))
		}
		if c.key != "" {
			parts = append(parts, field("reconciliationKey", c.key))
		}
		h := creds
		if c.delimiter != "" {
			h = withHeaders(creds, map[string]string{"DELIMITER": c.delimiter})
		}
		r := post(t, base+"/vpns/api/v1/audience/import", h, parts...)
		// The seed's sample response, with Intake's import ID.
		expect(t, r, 200, `{"id":"imp_fake1","message":"File uploaded successfully, import is in progress."}`)
		if _, body := imp.lastCSV(t, "acme", "users.csv", envelope.Options{Schema: "audience_users", Mode: c.mode, Key: c.key}, c.wantDelim); body != audienceCSV {
			t.Fatalf("%+v: submitted %q", c, body)
		}
	}
}

func TestAudienceBadRequests(t *testing.T) {
	imp := &fakeImporter{}
	base, creds := audienceServer(t, imp)
	bad := func(detail string) string {
		return js(map[string]any{"message": "Please upload a valid CSV file", "detail": detail})
	}
	cases := []struct {
		name    string
		headers map[string]string
		parts   []part
		detail  string
	}{
		{"no file", creds, []part{field("importType", "insert")}, "no file: send the CSV file in a multipart field named \"uploadFile\""},
		{"unknown importType", creds, []part{file("uploadFile", "u.csv", audienceCSV), field("importType", "merge")}, "importType: want insert, upsert or delsert"},
		{"unknown DELIMITER", withHeaders(creds, map[string]string{"DELIMITER": "TAB"}), []part{file("uploadFile", "u.csv", audienceCSV)}, "DELIMITER: want COMMA, SEMI_COLON, PIPE or HYPHEN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, post(t, base+"/vpns/api/v1/audience/import", c.headers, c.parts...), 400, bad(c.detail))
		})
	}
	if imp.count() != 0 {
		t.Fatal("a bad request was submitted")
	}
}

func TestAudienceStatus(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	imp := &fakeImporter{view: client.Summary{Status: "processing", Schema: "audience_users", Mode: "replace", Key: "mobile_number", Source: "users.csv", Total: 3, Processed: 1, Counts: envelope.Counts{Created: 1}, CreatedAt: &at}}
	base, creds := audienceServer(t, imp)
	expect(t, post(t, base+"/vpns/api/v1/audience/import", creds, file("uploadFile", "users.csv", audienceCSV), field("importType", "delsert")), 200, "")

	r := get(t, base+"/vpns/api/v1/audience/import/imp_fake1", creds)
	expect(t, r, 200, `{"id":"imp_fake1","status":"IN_PROGRESS","message":"File uploaded successfully, import is in progress.","importType":"delsert",
		"reconciliationKey":"mobileNumber","fileName":"users.csv","totalRecords":3,"processedRecords":1,"insertedRecords":1,"updatedRecords":0,
		"skippedRecords":0,"failedRecords":0,"deletedRecords":0,"errors":[],"createdAt":"2026-03-01T12:00:00Z"}`)
	var st compat.AudienceStatus
	r.decode(t, &st)

	imp.view = client.Summary{Status: "completed", Schema: "audience_users", Mode: "insert", Key: "email", Source: "users.csv", Total: 3, Processed: 3,
		Counts: envelope.Counts{Created: 2, Failed: 1}, Errors: []client.RowError{{Row: 4, Field: "email", Message: "email: required"}}, CreatedAt: &at, CompletedAt: &at}
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp_fake1", creds), 200, `{"id":"imp_fake1","status":"COMPLETED","message":"Import completed; some records failed.",
		"importType":"insert","reconciliationKey":"email","fileName":"users.csv","totalRecords":3,"processedRecords":3,"insertedRecords":2,"updatedRecords":0,
		"skippedRecords":0,"failedRecords":1,"deletedRecords":0,"errors":[{"row":4,"field":"email","message":"email: required"}],
		"createdAt":"2026-03-01T12:00:00Z","completedAt":"2026-03-01T12:00:00Z"}`)

	imp.view = client.Summary{Status: "failed", Schema: "audience_users", Mode: "upsert", Key: "email", Total: 2, Processed: 2, Counts: envelope.Counts{Created: 2}, Reason: "the file could not be read to the end"}
	r = get(t, base+"/vpns/api/v1/audience/import/imp_fake1", creds)
	if m := r.object(t); m["status"] != "FAILED" || m["message"] != "Import failed: the file could not be read to the end" || m["importType"] != "upsert" {
		t.Fatalf("failed import: %s", r.raw)
	}

	// Just accepted, not yet seen by the reporter: ingest's pending view
	// has no schema; it is shown as in progress.
	imp.view = client.Summary{Status: "processing", Total: 3}
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp_fake1", creds), 200, `{"id":"imp_fake1","status":"IN_PROGRESS",
		"message":"File uploaded successfully, import is in progress.","importType":"","reconciliationKey":"","totalRecords":3,"processedRecords":0,
		"insertedRecords":0,"updatedRecords":0,"skippedRecords":0,"failedRecords":0,"deletedRecords":0,"errors":[]}`)

	notFound := `{"message":"Import not found"}`
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp_nope", creds), 404, notFound)
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp*", creds), 404, notFound)
	other := bearer(jwt(t, "other", "eve", auth.CapImportsRead))
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp_fake1", other), 404, notFound)
	imp.view.Schema = "customers"
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp_fake1", creds), 404, notFound)
	imp.waitErr = errors.New("mongo down at 10.0.0.4")
	expect(t, get(t, base+"/vpns/api/v1/audience/import/imp_fake1", creds), 500, `{"message":"Server failure to process request"}`)
}
