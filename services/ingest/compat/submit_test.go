package compat_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/intake/intake/services/ingest"
)

// contractUpload is one contract's upload route and its answers to what
// Submit returns: a refusal of the pipeline's (a 4xx request error, whose
// message is for people) or a failure of the server's (never shown).
type contractUpload struct {
	name   string
	upload func(t *testing.T, imp *fakeImporter, filename, data string) response
	// badRequestOnly: the contract refuses a file only with 400, keeping
	// the pipeline's 413.
	badRequestOnly bool
	// refusal is an example of a file the pipeline refuses, with the
	// status and body the contract answers a 400 refusal with.
	refusal       exampleRefusal
	refusedStatus int
	refusedBody   func(status int, msg string) string
	failedBody    string // the answer to any failure of the server's
}

type exampleRefusal struct{ filename, data, msg string }

func contractUploads() []contractUpload {
	return []contractUpload{
		{name: "persons", upload: func(t *testing.T, imp *fakeImporter, filename, data string) response {
			base, creds := personsServer(t, imp, nil)
			return post(t, base+"/persons/bulk-import", creds, file("persons", filename, data))
		}, badRequestOnly: true,
			refusal:       exampleRefusal{"p.csv", "foo\nbar\n", "header: no column of the header matches schema persons (expected some of: slashid:emails)"},
			refusedStatus: 400, refusedBody: personsErr,
			failedBody: personsErr(500, "the import could not be started; try again")},
		{name: "phonebook", upload: func(t *testing.T, imp *fakeImporter, filename, data string) response {
			base, creds := phonebookServer(t, imp, nil)
			return post(t, base+"/phonebook/import/", creds, file("file", filename, data))
		}, badRequestOnly: true,
			refusal:       exampleRefusal{"c.xlsx", "PK\x03\x04", "the file looks like a ZIP archive (an XLSX workbook?), not CSV"},
			refusedStatus: 400,
			refusedBody:   func(_ int, msg string) string { return js(map[string]any{"message": "invalid CSV", "error": msg}) },
			failedBody:    `{"message":"server error","error":"the import could not be started; try again"}`},
		{name: "audience", upload: func(t *testing.T, imp *fakeImporter, filename, data string) response {
			base, creds := audienceServer(t, imp)
			return post(t, base+"/vpns/api/v1/audience/import", creds, file("uploadFile", filename, data))
		}, badRequestOnly: true,
			refusal:       exampleRefusal{"u.png", "\x89PNG\r\n\x1a\n", "the file looks like a PNG image, not CSV or XLSX"},
			refusedStatus: 400,
			refusedBody: func(_ int, msg string) string {
				return js(map[string]any{"message": "Please upload a valid CSV file", "detail": msg})
			},
			failedBody: `{"message":"Server failure to process request"}`},
		{name: "community", upload: func(t *testing.T, imp *fakeImporter, filename, data string) response {
			base, creds := communityServer(t, imp, nil)
			return post(t, base+"/apis/v1/users/bulk-import", creds, file("data", filename, data), field("communityId", "comm1"))
		},
			refusal:       exampleRefusal{"u.csv", "", "the file is empty: a header row is required"},
			refusedStatus: 400, refusedBody: func(_ int, msg string) string { return js(map[string]any{"message": msg}) },
			failedBody: `{"message":"the import could not be started; try again"}`},
		{name: "customers", upload: func(t *testing.T, imp *fakeImporter, filename, data string) response {
			base, creds := customersServer(t, imp, nil)
			return post(t, base+"/customers/import", creds, file("file", filename, data))
		},
			refusal:       exampleRefusal{"c.csv", "foo,bar\n1,2\n", "header: no column of the header matches schema customers (expected some of: name, email)"},
			refusedStatus: 422, refusedBody: func(_ int, msg string) string { return customers422("value_error", msg) },
			failedBody: `{"detail":"the import could not be started; try again"}`},
	}
}

const submitCSV = "email\nann@example.com\n"

// The contracts that refuse a file only with 400 keep the pipeline's 413
// for an upload over its limit and answer every other refusal of Submit
// with 400, each in its own body.
func TestSubmitRefusalStatus(t *testing.T) {
	refusals := []struct {
		status, want int
		msg          string
	}{
		{413, 413, "the file has more than 5 rows"},
		{422, 400, "header: no column of the header matches"},
		{400, 400, "the file is empty: a header row is required"},
	}
	for _, c := range contractUploads() {
		if !c.badRequestOnly {
			continue
		}
		for _, rf := range refusals {
			imp := &fakeImporter{submitErr: &ingest.RequestError{Status: rf.status, Message: rf.msg}}
			r := c.upload(t, imp, "c.csv", submitCSV)
			if r.status != rf.want {
				t.Fatalf("%s, Submit %d: status %d, want %d; body %s", c.name, rf.status, r.status, rf.want, r.raw)
			}
			expect(t, r, rf.want, c.refusedBody(rf.want, rf.msg))
		}
	}
}

// Every contract passes the pipeline's refusals on in its own body, and
// answers a failure of the server's with a 500 that names none of it.
func TestSubmitFailures(t *testing.T) {
	failures := []error{
		&ingest.RequestError{Status: 503, Message: "the rows could not be stored: nats://10.0.0.1"},
		&ingest.RequestError{Status: 503, Message: "the rows could not be stored; retry the upload: nats 10.0.0.1"},
		&ingest.RequestError{Status: 503, Message: "the rows could not be stored; retry the upload: nats: connection to 10.1.2.3:4222 refused", ImportID: "imp_x"},
		errors.New("boom"),
		errors.New("mongo://user:pw@db failed"),
		errors.New("broker at nats://10.0.0.1 gone"),
		errors.New("nats: 10.0.0.1 refused"),
	}
	for _, c := range contractUploads() {
		t.Run(c.name, func(t *testing.T) {
			rf := c.refusal
			imp := &fakeImporter{submitErr: &ingest.RequestError{Status: 400, Message: rf.msg}}
			expect(t, c.upload(t, imp, rf.filename, rf.data), c.refusedStatus, c.refusedBody(c.refusedStatus, rf.msg))
			for _, err := range failures {
				imp.submitErr = err
				expect(t, c.upload(t, imp, "c.csv", submitCSV), http.StatusInternalServerError, c.failedBody)
			}
		})
	}
}

// A tenant at its limit of imports at once is refused before the file is
// read: a file that would fail to parse gets the limit's answer, and
// nothing is submitted.
func TestConcurrencyCheckedBeforeReading(t *testing.T) {
	busy := &ingest.RequestError{Status: http.StatusTooManyRequests, Message: "1 imports are processing, the most this tenant may run at once; try again when one finishes"}
	imp := &fakeImporter{concurrencyErr: busy}
	base, creds := customersServer(t, imp, nil)
	png := "\x89PNG\r\n\x1a\n0000"
	expect(t, post(t, base+"/customers/import", creds, file("file", "c.png", png)), 422, customers422("value_error", busy.Message))

	pbase, pcreds := personsServer(t, imp, nil)
	expect(t, post(t, pbase+"/persons/bulk-import", pcreds, file("persons", "p.csv", "\x89PNG\r\n\x1a\n0000")), 400, personsErr(400, busy.Message))
	if imp.count() != 0 {
		t.Fatalf("%d refused requests were submitted", imp.count())
	}
}
