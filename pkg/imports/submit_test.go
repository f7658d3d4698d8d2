package imports_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/subjects"
)

// submitter is the layer as the HTTP edge builds it: 2 rows a chunk, at
// most 3 rows an import, one import at a time.
func submitter(t *testing.T, e env) *imports.Service {
	t.Helper()
	people, err := schema.Parse([]byte(`{"name": "people", "keys": ["email"], "fields": [
		{"name": "email", "type": "email", "required": true}, {"name": "name", "type": "string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	reg := schema.NewRegistry()
	reg.Put(people)
	return imports.New(imports.Deps{Store: e.store, JS: e.js, Schemas: catalog.New(reg, e.store)}, imports.Config{
		ChunkSize: 2,
		Limits:    func(string) limits.Limits { return limits.Limits{MaxRows: 3, MaxConcurrentImports: 1} },
	})
}

// chunks reads the row chunks of an import from the rows stream.
func chunks(t *testing.T, e env, tenant, id string) []envelope.RowChunk {
	t.Helper()
	ctx := ctxT(t)
	cons, err := e.js.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{FilterSubjects: subjects.Filters(subjects.Rows, tenant, id)})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []envelope.RowChunk
	for range info.NumPending {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var ch envelope.RowChunk
		if err := json.Unmarshal(m.Data(), &ch); err != nil {
			t.Fatal(err)
		}
		out = append(out, ch)
	}
	return out
}

// Submit publishes a file's rows in chunks and seals the import with its
// row count; bad requests are RequestErrors with their status, and a file
// over the row limit is imported up to it and ends failed.
func TestSubmit(t *testing.T) {
	e := start(t)
	svc := submitter(t, e)
	ctx := ctxT(t)

	sub, err := svc.Submit(ctx, imports.SubmitRequest{Tenant: "acme", Source: "p.csv", Options: envelope.Options{Schema: "people"},
		Body: strings.NewReader("email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\n")})
	if err != nil || sub.Rows != 3 || sub.ID == "" {
		t.Fatalf("submit: %+v %v", sub, err)
	}
	var rows []int
	chs := chunks(t, e, "acme", sub.ID)
	for _, ch := range chs {
		if ch.Options.Schema != "people" || ch.Options.Mode != envelope.ModeUpsert || ch.Options.Key != "email" {
			t.Errorf("chunk %d options %+v", ch.Chunk, ch.Options)
		}
		for _, r := range ch.Rows {
			rows = append(rows, r.Row)
		}
	}
	if len(chs) != 2 || !reflect.DeepEqual(rows, []int{2, 3, 4}) {
		t.Errorf("%d chunks with rows %v, want 2 chunks with rows 2, 3, 4", len(chs), rows)
	}
	v, found, err := svc.Summary(ctx, "acme", sub.ID, imports.DefaultErrorLimit)
	if err != nil || !found || !v.Sealed || v.Total != 3 || v.Schema != "people" || v.Status != ledger.StatusProcessing {
		t.Errorf("summary before the reporter: %+v %v %v", v, found, err)
	}

	for _, tt := range []struct {
		name, csv, schema string
		status            int
		message           string
		started           bool
	}{
		{"unknown schema", "email\na@example.com\n", "nope", http.StatusBadRequest, "nope", false},
		{"header maps no field", "colour\nred\n", "people", http.StatusBadRequest, "header: ", false},
		{"empty file", "", "people", http.StatusBadRequest, "", false},
		{"over the row limit", "email\na@example.com\nb@example.com\nc@example.com\nd@example.com\n", "people", http.StatusUnprocessableEntity, "more than 3 rows", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := svc.Submit(ctx, imports.SubmitRequest{Tenant: "acme", Options: envelope.Options{Schema: tt.schema}, Body: strings.NewReader(tt.csv)})
			var re *imports.RequestError
			if !errors.As(err, &re) || re.Status != tt.status || !strings.Contains(re.Message, tt.message) || (re.ImportID != "") != tt.started {
				t.Fatalf("%+v, %v: want status %d with %q, import started %v", sub, err, tt.status, tt.message, tt.started)
			}
			if tt.started && sub.Rows != 3 {
				t.Errorf("%d rows imported, want the 3 within the limit", sub.Rows)
			}
		})
	}
}

// A tenant at its limit of imports at once is refused with 429 before
// anything is read.
func TestCheckConcurrency(t *testing.T) {
	e := start(t)
	svc := submitter(t, e)
	ctx := ctxT(t)
	if err := svc.CheckConcurrency(ctx, "acme"); err != nil {
		t.Fatalf("no import processing: %v", err)
	}
	if err := e.store.SaveSummary(ctx, &ledger.Summary{ID: "imp_busy", Tenant: "acme", Status: ledger.StatusProcessing, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	var re *imports.RequestError
	if err := svc.CheckConcurrency(ctx, "acme"); !errors.As(err, &re) || re.Status != http.StatusTooManyRequests || re.RetryAfter <= 0 {
		t.Fatalf("one processing, limit 1: %v, want 429 with Retry-After", err)
	}
	if err := svc.CheckConcurrency(ctx, "other"); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
}
