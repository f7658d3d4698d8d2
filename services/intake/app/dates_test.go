package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/services/intake/app"
)

const peopleWithDates = `{"name": "people", "keys": ["email"], "fields": [
	{"name": "email", "type": "email"}, {"name": "name", "type": "string"},
	{"name": "birthday", "type": "date"}, {"name": "joined", "type": "date"}]}`

// birthday tells its order (13/03/2024: day first), joined does not (every
// value is below 13 in both places).
// With two rows a chunk, the first chunk holds no evidence: the decision
// is the import's, not the chunk's.
const datesCSV = "email,name,birthday,joined\n" +
	"a@x.example,A,03/07/2024,03/07/2024\n" +
	"d@x.example,D,2024-01-05,12/11/2023\n" +
	"c@x.example,C,25/12/1990,\n" +
	"b@x.example,B,13/03/2024,01/02/2024\n" +
	"old@x.example,Old,13/03/2024,\n"

// A date column's day-month order is inferred from the evidence across
// the column; a column without evidence reads month first with a warning
// in the summary; dates are stored as BSON dates at UTC midnight; a
// re-import of the same file, and a date stored as a string by an earlier
// version, are unchanged. On the embedded default (the SQLite fast path)
// and on FerretDB over the wire (the plain MongoDB insert, update and find).
func TestDatesInferredAndStoredAsDates(t *testing.T) {
	onBothStorePaths(t, func(t *testing.T, useStore func(*app.Config)) {
		s := startSystem(t, t.TempDir(), func(c *app.Config) {
			c.ChunkSize = 2
			useStore(c)
		})
		if status, out := s.call("PUT", "/v1/schemas/people", nil, strings.NewReader(peopleWithDates), "application/json"); status != 200 {
			t.Fatalf("schema: %d %v", status, out)
		}
		// A record stored by an earlier version, its date a string.
		coll := s.mongo.Database("intake_records").Collection("records.default.people")
		if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: "email:old@x.example"},
			{Key: "email", Value: "old@x.example"}, {Key: "name", Value: "Old"}, {Key: "birthday", Value: "2024-03-13"}}); err != nil {
			t.Fatal(err)
		}

		v := s.importWant(t, "first import", datesCSV, map[string]string{"schema": "people"}, [5]int{4, 0, 1, 0, 0})
		if v.DateFormats["birthday"] != "dmy" || v.DateFormats["joined"] != "mdy" {
			t.Fatalf("date_formats %v, want birthday dmy (evidence) and joined mdy (none)", v.DateFormats)
		}
		if len(v.Warnings) != 1 || v.Warnings[0].Field != "joined" || v.Warnings[0].Code != "ambiguous_date" ||
			!strings.Contains(v.Warnings[0].Message, "03/07/2024 is 7 March") {
			t.Fatalf("warnings %+v, want one ambiguous_date for joined", v.Warnings)
		}
		want := map[string][2]string{ // birthday, joined
			"email:a@x.example": {"2024-07-03", "2024-03-07"},
			"email:b@x.example": {"2024-03-13", "2024-01-02"},
			"email:c@x.example": {"1990-12-25", ""},
			"email:d@x.example": {"2024-01-05", "2023-12-11"},
		}
		recs := s.records("default", "people")
		for id, w := range want {
			for i, f := range []string{"birthday", "joined"} {
				got, present := recs[id][f]
				if w[i] == "" {
					if present {
						t.Errorf("%s %s = %v, want none", id, f, got)
					}
					continue
				}
				d, ok := got.(bson.DateTime)
				if !ok || !d.Time().Equal(mustDay(t, w[i])) {
					t.Errorf("%s %s = %#v, want the BSON date %s UTC midnight", id, f, got, w[i])
				}
			}
		}
		if got := recs["email:old@x.example"]["birthday"]; got != "2024-03-13" {
			t.Errorf("the unchanged old record's date = %#v, want its string left as it is", got)
		}

		// The same file again: every row unchanged, read back on each path.
		s.importWant(t, "re-import", datesCSV, map[string]string{"schema": "people"}, [5]int{0, 0, 5, 0, 0})
		// A replay reads the dates as the original did.
		status, out := s.call("POST", "/v1/imports/"+v.ID+"/replay", nil, nil, "")
		if status != 202 {
			t.Fatalf("replay: %d %v", status, out)
		}
		if r := s.waitDone(out["id"].(string), time.Minute); counts(r) != [5]int{0, 0, 5, 0, 0} || r.DateFormats["birthday"] != "dmy" || len(r.Warnings) != 1 {
			t.Fatalf("replay = %v date_formats %v warnings %+v, want all unchanged, read as the original", counts(r), r.DateFormats, r.Warnings)
		}

		// Given explicitly, no inference and no warning.
		v = s.importWant(t, "date_format=dmy", "email,joined\ne@x.example,03/07/2024\n",
			map[string]string{"schema": "people", "date_format": "dmy"}, [5]int{1, 0, 0, 0, 0})
		if len(v.Warnings) != 0 || v.DateFormats["joined"] != "dmy" {
			t.Fatalf("warnings %+v date_formats %v", v.Warnings, v.DateFormats)
		}
		if d, _ := s.records("default", "people")["email:e@x.example"]["joined"].(bson.DateTime); !d.Time().Equal(mustDay(t, "2024-07-03")) {
			t.Fatalf("date_format=dmy stored %v, want 2024-07-03", d.Time())
		}
		if status, out := s.upload([]byte("email,joined\nf@x.example,03/07/2024\n"), map[string]string{"schema": "people", "date_format": "dd/mm"}); status != 400 || !strings.Contains(fmt.Sprint(out["error"]), "date_format") {
			t.Fatalf("a bad date_format: %d %v, want 400 naming date_format", status, out)
		}
	})
}

func mustDay(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A publisher over NATS gives date_format at open: every chunk it
// publishes reads dates with it (no read-ahead), and the summary says so.
func TestDateFormatOverNATS(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	if status, out := s.call("PUT", "/v1/schemas/people", nil, strings.NewReader(peopleWithDates), "application/json"); status != 200 {
		t.Fatalf("schema: %d %v", status, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	im := s.openOverNATS(ctx, client.OpenRequest{Tenant: "default", Schema: "people", DateFormat: "dmy"})
	if im.Options.DateFormat != "dmy" {
		t.Fatalf("open answered options %+v, want date_format dmy", im.Options)
	}
	if err := im.Publish(ctx, [][]string{{"a@x.example", "03/07/2024"}, {"b@x.example", "03/13/2024"}}, []string{"email", "birthday"}); err != nil {
		t.Fatal(err)
	}
	if err := im.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	sum, err := im.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 1 || sum.Failed != 1 || len(sum.Errors) != 1 || sum.Errors[0].Field != "birthday" || sum.Errors[0].Row != 3 {
		t.Fatalf("summary %+v, want a@ created and b@'s month-first date failed", sum.Summary)
	}
	if d, _ := s.records("default", "people")["email:a@x.example"]["birthday"].(bson.DateTime); !d.Time().Equal(mustDay(t, "2024-07-03")) {
		t.Fatalf("stored %v, want 2024-07-03", d.Time())
	}
}
