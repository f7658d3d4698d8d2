package compat_test

import (
	"testing"

	"github.com/intake/intake/services/ingest"
)

// The contracts that refuse a file only with 400 keep the pipeline's 413
// for an upload over its limit and answer every other refusal of Submit
// with 400, each in its own body.
func TestSubmitRefusalStatus(t *testing.T) {
	const csv = "email\nann@example.com\n"
	contracts := []struct {
		name string
		call func(t *testing.T, imp *fakeImporter) response
		body func(status int, msg string) string
	}{
		{"persons", func(t *testing.T, imp *fakeImporter) response {
			base, creds := personsServer(t, imp, nil)
			return post(t, base+"/persons/bulk-import", creds, file("persons", "p.csv", csv))
		}, personsErr},
		{"phonebook", func(t *testing.T, imp *fakeImporter) response {
			base, creds := phonebookServer(t, imp, nil)
			return post(t, base+"/phonebook/import/", creds, file("file", "c.csv", csv))
		}, func(_ int, msg string) string { return js(map[string]any{"message": "invalid CSV", "error": msg}) }},
		{"audience", func(t *testing.T, imp *fakeImporter) response {
			base, creds := audienceServer(t, imp)
			return post(t, base+"/vpns/api/v1/audience/import", creds, file("uploadFile", "u.csv", csv))
		}, func(_ int, msg string) string {
			return js(map[string]any{"message": "Please upload a valid CSV file", "detail": msg})
		}},
	}
	refusals := []struct {
		status, want int
		msg          string
	}{
		{413, 413, "the file has more than 5 rows"},
		{422, 400, "header: no column of the header matches"},
		{400, 400, "the file is empty: a header row is required"},
	}
	for _, c := range contracts {
		for _, rf := range refusals {
			imp := &fakeImporter{submitErr: &ingest.RequestError{Status: rf.status, Message: rf.msg}}
			r := c.call(t, imp)
			if r.status != rf.want {
				t.Fatalf("%s, Submit %d: status %d, want %d; body %s", c.name, rf.status, r.status, rf.want, r.raw)
			}
			expect(t, r, rf.want, c.body(rf.want, rf.msg))
		}
	}
}
