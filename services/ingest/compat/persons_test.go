package compat_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/services/ingest/compat"
)

const personsFile = `"slashid:emails","slashid:phone_numbers","slashid:usernames","slashid:region","slashid:groups","slashid:attributes"
"ann@example.com,ann@work.example","+14155552671","ann","europe-belgium","Admin,Editor","{""end_user_read_write"":{""nickname"":""Annie""}}"
"bob@example.com","","","mars","",""
"ann@example.com","","","","",""
"=HYPERLINK(""http://evil"")@example.com","","","","",""
"cy@example.com","","","","",""
`

func TestPersonsResult(t *testing.T) {
	imp := &fakeImporter{
		view: client.Summary{Status: "completed", Total: 5, Processed: 5, Counts: envelope.Counts{Created: 1, Updated: 0, Skipped: 2, Failed: 2}},
		notes: []envelope.Outcome{
			outcome(3, envelope.Failed, "validation|region|region: 'mars' is not one of us-iowa, europe-belgium, asia-japan, europe-england, australia-sydney"),
			outcome(4, envelope.Skipped, "duplicate|emails|duplicate of row 2 (same emails ann@example.com)"),
			outcome(5, envelope.Failed, "validation|emails|emails: '=HYPERLINK(\"http://evil\")@example.com' is not a valid email address"),
			outcome(6, envelope.Skipped, "unchanged||unchanged: the record already has these values"),
		},
	}
	base, creds := personsServer(t, imp, nil)
	r := post(t, base+"/persons/bulk-import", creds, file("persons", "persons.csv", personsFile))
	wantCSV := "slashid:emails,slashid:phone_numbers,slashid:usernames,slashid:region,slashid:groups,slashid:attributes,reason\r\n" +
		"bob@example.com,,,mars,,,\"region: 'mars' is not one of us-iowa, europe-belgium, asia-japan, europe-england, australia-sydney\"\r\n" +
		"ann@example.com,,,,,,duplicate of row 2 (same emails ann@example.com)\r\n" +
		"\"'=HYPERLINK(\"\"http://evil\"\")@example.com\",,,,,,\"emails: '=HYPERLINK(\"\"http://evil\"\")@example.com' is not a valid email address\"\r\n"
	expect(t, r, 200, js(map[string]any{
		"meta":   map[string]any{"pagination": map[string]any{"limit": 0, "offset": 0, "total_count": 5}},
		"errors": []any{},
		"result": map[string]any{"successful_imports": 2, "failed_imports": 3, "failed_csv": wantCSV},
	}))
	var res compat.PersonsResponse
	r.decode(t, &res)
	req, body := imp.lastCSV(t, "acme", "persons.csv", envelope.Options{Schema: "persons", Mode: envelope.ModeUpsert}, "")
	if req.Rows == nil || req.Body != nil {
		t.Fatalf("submitted %+v", req)
	}
	// The file is read once; the rows read are submitted.
	if !strings.HasPrefix(body, "slashid:emails,") || strings.Count(body, "\n") != 6 {
		t.Fatalf("submitted rows %q", body)
	}
}

func TestPersonsAllSucceeded(t *testing.T) {
	imp := &fakeImporter{view: client.Summary{Status: "completed", Total: 1, Processed: 1, Counts: envelope.Counts{Updated: 1}}}
	base, creds := personsServer(t, imp, nil)
	r := post(t, base+"/persons/bulk-import", creds, file("persons", "p.csv", "slashid:emails\nann@example.com\n"))
	expect(t, r, 200, `{"meta":{"pagination":{"limit":0,"offset":0,"total_count":1}},"errors":[],"result":{"successful_imports":1,"failed_imports":0,"failed_csv":""}}`)
	if imp.problemsN != 0 {
		t.Fatal("Problems read for an import without problems")
	}
}

func TestPersonsPricingTier(t *testing.T) {
	imp := &fakeImporter{view: allCreated(3)}
	limits := map[string]int{"acme": 2, "big": 0}
	base, _ := personsServer(t, imp, func(c *compat.Config) { c.PersonsRowLimit = func(t string) int { return limits[t] } })
	three := "slashid:emails\na@example.com\nb@example.com\nc@example.com\n"
	acme := withHeaders(bearer(jwt(t, "acme", "ann", auth.CapImportsWrite)), map[string]string{"SlashID-OrgID": "acme"})
	r := post(t, base+"/persons/bulk-import", acme, file("persons", "p.csv", three))
	expect(t, r, 402, personsErr(402, "Pricing Tier Violation: the file has 3 persons; the organization's plan allows at most 2 per import"))
	if imp.count() != 0 {
		t.Fatal("a file over the plan limit was submitted")
	}
	// A limit <= 0 is no limit.
	big := withHeaders(bearer(jwt(t, "big", "ann", auth.CapImportsWrite)), map[string]string{"SlashID-OrgID": "big"})
	expect(t, post(t, base+"/persons/bulk-import", big, file("persons", "p.csv", three)), 200, "")

	// The default is 10,000.
	base2, creds2 := personsServer(t, imp, nil)
	r = post(t, base2+"/persons/bulk-import", creds2, file("persons", "p.csv", manyPersons(10_001)))
	expect(t, r, 402, personsErr(402, "Pricing Tier Violation: the file has 10001 persons; the organization's plan allows at most 10000 per import"))
}

func manyPersons(n int) string {
	b := []byte("slashid:emails\n")
	for i := 0; i < n; i++ {
		b = append(b, []byte("p"+strconv.Itoa(i)+"@example.com\n")...)
	}
	return string(b)
}

func TestPersonsBadRequests(t *testing.T) {
	imp := &fakeImporter{}
	base, creds := personsServer(t, imp, nil)
	tok := bearer(jwt(t, "acme", "ann", auth.CapImportsWrite))
	cases := []struct {
		name    string
		headers map[string]string
		parts   []part
		status  int
		msg     string
	}{
		{"no org header", tok, []part{file("persons", "p.csv", "slashid:emails\na@example.com\n")}, 400,
			"the SlashID-OrgID header is required: the ID of the organization to import into"},
		{"org not subject-safe", withHeaders(tok, map[string]string{"SlashID-OrgID": "acme.>"}), []part{file("persons", "p.csv", "slashid:emails\na@example.com\n")}, 400,
			"SlashID-OrgID: not a valid organization ID (1-64 characters of A-Z a-z 0-9 _ -)"},
		{"no file", creds, []part{field("x", "y")}, 400, "no file: send the CSV file in a multipart field named \"persons\""},
		{"file in another field", creds, []part{file("file", "p.csv", "slashid:emails\na@example.com\n")}, 400, "no file: send the CSV file in a multipart field named \"persons\""},
		{"empty file", creds, []part{file("persons", "p.csv", "")}, 400, "the file is empty: a header row is required"},
		{"xlsx", creds, []part{file("persons", "p.xlsx", "PK\x03\x04rest")}, 400, "the file looks like a ZIP archive (an XLSX workbook?), not CSV"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, post(t, base+"/persons/bulk-import", c.headers, c.parts...), c.status, personsErr(c.status, c.msg))
		})
	}
	if imp.count() != 0 {
		t.Fatal("a bad request was submitted")
	}
}

func TestPersonsTooLarge(t *testing.T) {
	imp := &fakeImporter{}
	base, creds := personsServer(t, imp, func(c *compat.Config) { c.SyncMaxBytes = 1 << 10 })
	r := post(t, base+"/persons/bulk-import", creds, file("persons", "p.csv", manyPersons(100)))
	expect(t, r, 413, personsErr(413, "the upload is larger than the limit of 1 KiB"))
}

// The seed's example organization ID (a UUID) is a valid tenant.
func TestPersonsSeedOrgID(t *testing.T) {
	const org = "af5fbd30-7ce7-4548-8b30-4cd59cb2aba1"
	imp := &fakeImporter{view: allCreated(1)}
	base := serveAuth(t, imp, nil)
	h := withHeaders(bearer(jwt(t, org, "ann", auth.CapImportsWrite)), map[string]string{"SlashID-OrgID": org})
	r := post(t, base+"/persons/bulk-import", h, file("persons", "persons.csv", "slashid:emails\nann@example.com\n"))
	expect(t, r, 200, `{"meta":{"pagination":{"limit":0,"offset":0,"total_count":1}},"errors":[],"result":{"successful_imports":1,"failed_imports":0,"failed_csv":""}}`)
	if req, _ := imp.last(t); req.Tenant != org {
		t.Fatalf("tenant %q", req.Tenant)
	}
}
