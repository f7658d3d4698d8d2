package compat_test

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/services/ingest/compat"
)

func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("name,email\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Person %d,p%d@example.com\n", i, i)
	}
	return b.String()
}

func customers422(typ, msg string) string {
	return js(map[string]any{"detail": []any{map[string]any{"loc": []any{"body", "file"}, "msg": msg, "type": typ}}})
}

const msgCustomersNoFile = "Field required: send the CSV or XLSX file in a multipart field named \"file\""

func TestCustomersResult(t *testing.T) {
	imp := &fakeImporter{view: client.Summary{Status: "completed", Total: 4, Processed: 4, Counts: envelope.Counts{Created: 2, Updated: 0, Skipped: 1, Failed: 1},
		Errors: []client.RowError{{Row: 3, Field: "email", Message: "email: 'bob@' is not a valid email address"}}}}
	base, creds := customersServer(t, imp, nil)
	csv := "Name,E-mail\nAnn,ann@example.com\nBob,bob@\nAnn L.,ANN@example.com\nCy,cy@example.com\n"
	r := post(t, base+"/customers/import", creds, file("file", "customers.csv", csv))
	expect(t, r, 200, `{"total":4,"created":2,"updated":0,"skipped":1,"errors":[{"row":3,"field":"email","message":"email: 'bob@' is not a valid email address"}]}`)
	var res compat.CustomerImportResult
	r.decode(t, &res)
	// The file is read once: the rows read to count them are submitted,
	// not the file to be read again.
	req, body := imp.last(t)
	if req.Tenant != "acme" || req.Source != "customers.csv" || !reflect.DeepEqual(req.Options, envelope.Options{Schema: "customers", Mode: envelope.ModeUpsert}) ||
		req.MaxRows != 100 || req.File.Format != "" || body != csv || req.Rows == nil || req.Body != nil {
		t.Fatalf("submitted %+v %q", req, body)
	}
}

func TestCustomersNoErrorsIsEmptyList(t *testing.T) {
	imp := &fakeImporter{view: allCreated(1)}
	base, creds := customersServer(t, imp, nil)
	r := post(t, base+"/customers/import", creds, file("file", "c.csv", customersCSV))
	expect(t, r, 200, `{"total":1,"created":1,"updated":0,"skipped":0,"errors":[]}`)
}

// A row without a field (e.g. a ragged row) has no "field" key, as the
// contract's optional field allows.
func TestCustomersErrorWithoutField(t *testing.T) {
	imp := &fakeImporter{view: client.Summary{Status: "completed", Total: 1, Processed: 1, Counts: envelope.Counts{Failed: 1},
		Errors: []client.RowError{{Row: 2, Message: "row has 3 cells but the header has 2 columns"}}}}
	base, creds := customersServer(t, imp, nil)
	r := post(t, base+"/customers/import", creds, file("file", "c.csv", "name,email\na,b,c\n"))
	expect(t, r, 200, `{"total":1,"created":0,"updated":0,"skipped":0,"errors":[{"row":2,"message":"row has 3 cells but the header has 2 columns"}]}`)
}

func TestCustomersAllErrorsWhenTruncated(t *testing.T) {
	imp := &fakeImporter{view: client.Summary{Status: "completed", Total: 2, Processed: 2, Counts: envelope.Counts{Failed: 2}, ErrorsTruncated: true,
		Errors: []client.RowError{{Row: 2, Field: "email", Message: "e1"}}},
		notes: []envelope.Outcome{outcome(2, envelope.Failed, "validation|email|e1", "validation|phone|p1"), outcome(3, envelope.Failed, "validation|email|e2")}}
	base, creds := customersServer(t, imp, nil)
	r := post(t, base+"/customers/import", creds, file("file", "c.csv", csvRows(2)))
	expect(t, r, 200, `{"total":2,"created":0,"updated":0,"skipped":0,"errors":[
		{"row":2,"field":"email","message":"e1"},{"row":2,"field":"phone","message":"p1"},{"row":3,"field":"email","message":"e2"}]}`)
}

func TestCustomersRowLimit(t *testing.T) {
	imp := &fakeImporter{view: allCreated(100)}
	base, creds := customersServer(t, imp, nil)

	r := post(t, base+"/customers/import", creds, file("file", "c.csv", csvRows(101)))
	expect(t, r, 422, customers422("value_error.too_many_rows", "the file has 101 data rows; at most 100 are allowed per file"))
	if imp.count() != 0 {
		t.Fatal("a file over the limit was submitted")
	}
	// Exactly 100, with blank lines between (which do not count), is fine.
	r = post(t, base+"/customers/import", creds, file("file", "c.csv", strings.Replace(csvRows(100), "\n", "\n\n,\n", 5)))
	expect(t, r, 200, `{"total":100,"created":100,"updated":0,"skipped":0,"errors":[]}`)

	// The limit is configurable.
	base2, creds2 := customersServer(t, imp, func(c *compat.Config) { c.CustomersMaxRows = 2 })
	r = post(t, base2+"/customers/import", creds2, file("file", "c.csv", csvRows(3)))
	expect(t, r, 422, customers422("value_error.too_many_rows", "the file has 3 data rows; at most 2 are allowed per file"))
}

func TestCustomersXLSX(t *testing.T) {
	s, x := customersTemplate(t)
	imp := &fakeImporter{view: allCreated(1)}
	base, creds := customersServer(t, imp, nil)
	r := post(t, base+"/customers/import", creds, file("file", "customers.xlsx", string(x)))
	expect(t, r, 200, `{"total":1,"created":1,"updated":0,"skipped":0,"errors":[]}`)
	// The workbook is read once, here; its rows are submitted.
	req, body := imp.last(t)
	if req.Rows == nil || req.Body != nil || !strings.HasPrefix(body, strings.Join(s.Headers(), ",")+"\n") || strings.Count(body, "\n") != 2 {
		t.Fatalf("submitted %+v %q", req, body)
	}
}

func TestCustomersRequestErrors(t *testing.T) {
	imp := &fakeImporter{}
	base, creds := customersServer(t, imp, func(c *compat.Config) { c.CustomersMaxBytes = 4 << 10 })
	cases := []struct {
		name string
		do   func() response
		want string
	}{
		{"no file", func() response { return post(t, base+"/customers/import", creds, field("other", "x")) },
			customers422("missing", msgCustomersNoFile)},
		{"file as a plain field", func() response { return post(t, base+"/customers/import", creds, field("file", customersCSV)) },
			customers422("missing", msgCustomersNoFile)},
		{"not multipart", func() response {
			return do(t, http.MethodPost, base+"/customers/import", creds, "application/json", []byte(`{"file":"x"}`))
		}, customers422("missing", msgCustomersNoFile)},
		{"empty file", func() response { return post(t, base+"/customers/import", creds, file("file", "c.csv", "")) },
			customers422("value_error", "the file is empty: a header row is required")},
		{"image", func() response {
			return post(t, base+"/customers/import", creds, file("file", "c.png", "\x89PNG\r\n\x1a\n0000"))
		}, customers422("value_error", "the file looks like a PNG image, not CSV or XLSX")},
		{"too large", func() response { return post(t, base+"/customers/import", creds, file("file", "c.csv", csvRows(200))) },
			customers422("value_error.too_large", "the upload is larger than the limit of 4 KiB")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expect(t, c.do(), 422, c.want) })
	}
	if imp.count() != 0 {
		t.Fatalf("%d refused requests were submitted", imp.count())
	}
}

func TestCustomersWaitErrors(t *testing.T) {
	imp := &fakeImporter{view: client.Summary{Status: "processing", Total: 1}}
	base, creds := customersServer(t, imp, nil)
	r := post(t, base+"/customers/import", creds, file("file", "c.csv", customersCSV))
	expect(t, r, 504, `{"detail":"the import imp_fake1 is still processing; its summary is at /v1/imports/imp_fake1"}`)

	imp.waitErr = errors.New("mongo at 10.0.0.9 down")
	r = post(t, base+"/customers/import", creds, file("file", "c.csv", customersCSV))
	expect(t, r, 500, `{"detail":"the import's summary could not be read; try again"}`)
}
