package app_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/services/ingest"
)

// docExample is one mongosh example of docs/data-model.md, as the driver
// runs it.
type docExample struct {
	db, coll, method string
	arg, sort        string // JSON
}

// exampleLine is the one form the examples take:
// db.getSiblingDB("D").getCollection("C").find(JSON)[.sort(JSON)] or .aggregate(JSON).
var exampleLine = regexp.MustCompile(`^db\.getSiblingDB\("([^"]+)"\)\.getCollection\("([^"]+)"\)\.(find|aggregate)\((.*?)\)(?:\.sort\((.*)\))?$`)

// readDocExamples parses the examples, each a ```js block after a
// <!-- example: NAME --> line.
func readDocExamples(t *testing.T, path string) map[string]docExample {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]docExample{}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "<!-- example: ")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, " -->")
		if i+3 >= len(lines) || lines[i+1] != "```js" || lines[i+3] != "```" {
			t.Fatalf("example %s: want one line in a ```js block after its marker", name)
		}
		m := exampleLine.FindStringSubmatch(lines[i+2])
		if m == nil {
			t.Fatalf("example %s: %q is not in the form the test runs", name, lines[i+2])
		}
		out[name] = docExample{db: m[1], coll: m[2], method: m[3], arg: m[4], sort: m[5]}
	}
	return out
}

// run runs an example with the doc's placeholder import ID replaced.
func (e docExample) run(t *testing.T, client *mongo.Client, importID string) []bson.M {
	t.Helper()
	ctx := context.Background()
	arg := strings.ReplaceAll(e.arg, "imp_5q2k8v3m1x", importID)
	c := client.Database(e.db).Collection(e.coll)
	var cur *mongo.Cursor
	var err error
	switch e.method {
	case "find":
		var filter bson.D
		if err := bson.UnmarshalExtJSON([]byte(arg), false, &filter); err != nil {
			t.Fatalf("filter %s: %v", arg, err)
		}
		opts := options.Find()
		if e.sort != "" {
			var sortBy bson.D
			if err := bson.UnmarshalExtJSON([]byte(e.sort), false, &sortBy); err != nil {
				t.Fatalf("sort %s: %v", e.sort, err)
			}
			opts.SetSort(sortBy)
		}
		cur, err = c.Find(ctx, filter, opts)
	case "aggregate":
		// Extended JSON is read as a document: wrap the array in one.
		var wrapped struct {
			Pipeline []bson.D `bson:"p"`
		}
		if err := bson.UnmarshalExtJSON([]byte(`{"p":`+arg+`}`), false, &wrapped); err != nil {
			t.Fatalf("pipeline %s: %v", arg, err)
		}
		cur, err = c.Aggregate(ctx, wrapped.Pipeline)
	}
	if err != nil {
		t.Fatalf("%s on %s.%s: %v", e.method, e.db, e.coll, err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// The mongosh examples of docs/data-model.md answer what they say against
// real imports on the embedded default, and the indexes the doc names exist.
func TestDataModelExamples(t *testing.T) {
	examples := readDocExamples(t, "../../../docs/data-model.md")
	for _, name := range []string{"person-by-email", "failed-rows", "created-by-import", "imports-newest-first"} {
		if _, ok := examples[name]; !ok {
			t.Fatalf("docs/data-model.md lacks the example %s", name)
		}
	}
	s := startSystem(t, t.TempDir(), nil)
	importCSV := func(csv string) ingest.ImportView {
		t.Helper()
		code, body := s.upload([]byte(csv), map[string]string{"schema": "contacts"})
		if code != 202 {
			t.Fatalf("upload: %d %v", code, body)
		}
		return s.waitDone(fmt.Sprint(body["id"]), time.Minute)
	}
	first := importCSV("Full Name,E-mail\r\nAnn Lee,ann@example.com\r\nBad Row,not-an-email\r\nBo Ek,bo@example.com\r\n")
	second := importCSV("Full Name,E-mail\r\nCy Ng,cy@example.com\r\nAnn Lee,ann@example.com\r\n") // Ann unchanged: skipped
	if first.Created != 2 || first.Failed != 1 || second.Created != 1 || second.Skipped != 1 {
		t.Fatalf("imports: %+v / %+v", first, second)
	}

	people := examples["person-by-email"].run(t, s.mongo, first.ID)
	if len(people) != 1 || people[0]["_id"] != "email:ann@example.com" || people[0]["name"] != "Ann Lee" {
		t.Fatalf("person-by-email found %v", people)
	}

	var failedRows []int
	for _, d := range examples["failed-rows"].run(t, s.mongo, first.ID) {
		var g struct {
			Notes struct {
				Result   string
				Rows     []int
				Problems []struct{ Field, Message string }
			}
		}
		raw, _ := bson.Marshal(d)
		if err := bson.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		if g.Notes.Result != "failed" || len(g.Notes.Problems) == 0 || g.Notes.Problems[0].Field != "email" {
			t.Fatalf("failed-rows found %+v", g.Notes)
		}
		failedRows = append(failedRows, g.Notes.Rows...)
	}
	if !slices.Equal(failedRows, []int{3}) {
		t.Fatalf("failed-rows of the first import: %v, want [3] (the API says %+v)", failedRows, first.Errors)
	}

	var created []string
	for _, d := range examples["created-by-import"].run(t, s.mongo, first.ID) {
		created = append(created, fmt.Sprint(d["_id"]))
	}
	sort.Strings(created)
	if !slices.Equal(created, []string{"email:ann@example.com", "email:bo@example.com"}) {
		t.Fatalf("created-by-import: %v", created)
	}

	var listed []string
	for _, d := range examples["imports-newest-first"].run(t, s.mongo, first.ID) {
		listed = append(listed, fmt.Sprint(d["_id"]))
	}
	if !slices.Equal(listed, []string{second.ID, first.ID}) {
		t.Fatalf("imports-newest-first: %v, want %s then %s", listed, second.ID, first.ID)
	}

	// The indexes the examples rely on.
	ctx := context.Background()
	for coll, want := range map[*mongo.Collection]string{
		s.mongo.Database("intake_records").Collection("records.default.contacts"): store.RecordIndexName("email"),
		s.mongo.Database("intake").Collection("imports"):                          "tenant_created_at",
		s.mongo.Database("intake").Collection("import_rows"):                      "import",
	} {
		names, err := store.IndexNames(ctx, coll)
		if err != nil || !slices.Contains(names, want) {
			t.Errorf("%s: indexes %v (%v), want %s", coll.Name(), names, err, want)
		}
	}
}
