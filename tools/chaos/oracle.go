package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/reconcile"
)

// contacts is a generated file and, computed independently of Intake, what
// importing it must give: which rows fail, which are duplicates, which
// records exist.
type contacts struct {
	tag     string
	csv     []byte
	total   int
	failed  map[int]bool
	skipped map[int]bool
	records map[string]string // _id -> name
	keyOf   map[int]string    // row -> its record's _id ("" for a row that fails validation)
	first   map[string]int    // _id -> the row that creates the record
	extra   map[int]string    // row -> the cell of the "extra" column, if the file has one
}

// name is the name cell of a row.
func (c contacts) name(row int) string { return fmt.Sprintf("%s person %d", c.tag, row-2) }

func makeContacts(n int, tag string) contacts { return makeContactsWith(n, tag, nil) }

// makeContactsWith is makeContacts with a fourth column, "extra", holding
// extra[row] (empty for other rows), when extra is not nil.
func makeContactsWith(n int, tag string, extra map[int]string) contacts {
	c := contacts{tag: tag, total: n, failed: map[int]bool{}, skipped: map[int]bool{}, records: map[string]string{},
		keyOf: map[int]string{}, first: map[string]int{}, extra: extra}
	var b bytes.Buffer
	b.WriteString("name,email,company")
	if extra != nil {
		b.WriteString(",extra")
	}
	b.WriteString("\n")
	for i := 0; i < n; i++ {
		row, name, email := i+2, fmt.Sprintf("%s person %d", tag, i), fmt.Sprintf("%s.%d@example.com", tag, i)
		switch {
		case i%97 == 5:
			email = "not-an-email"
		case i%89 == 7 && i > 0:
			email = fmt.Sprintf("%s.%d@example.com", tag, i-1) // repeats the row before
		}
		fmt.Fprintf(&b, "%s,%s,Company %d", name, email, i%13)
		if extra != nil {
			fmt.Fprintf(&b, ",%s", csvQuote(extra[row]))
		}
		b.WriteString("\n")
		key := "email:" + email
		switch {
		case email == "not-an-email":
			c.failed[row] = true
		case c.records[key] != "":
			c.skipped[row] = true // a later row with a key already seen (the first may have been invalid)
			c.keyOf[row] = key
		default:
			c.records[key] = name
			c.keyOf[row] = key
			c.first[key] = row
		}
	}
	c.csv = b.Bytes()
	return c
}

func csvQuote(s string) string {
	if !strings.ContainsAny(s, ",\"\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// finished waits until an import is no longer processing and returns its summary.
func finished(ctx context.Context, base string, t tenant, id string, limit time.Duration) (client.Summary, error) {
	var s client.Summary
	err := waitFor(ctx, "import "+id+" to finish", limit, func() error {
		got, err := restOf(base, t).Summary(ctx, id, 5*time.Second)
		if err != nil {
			return err
		}
		s = *got
		if s.Status == client.StatusProcessing {
			return fmt.Errorf("still processing: %+v", s)
		}
		return nil
	})
	return s, err
}

// rowErrors lists an import's rows with result (failed or skipped): the
// first problem's message and code of each.
func rowErrors(base string, t tenant, id, result string) (messages, codes map[int]string, err error) {
	problems, err := restOf(base, t).Problems(context.Background(), id, result)
	if err != nil {
		return nil, nil, err
	}
	messages, codes = map[int]string{}, map[int]string{}
	for _, e := range problems {
		if _, ok := messages[e.Row]; !ok {
			messages[e.Row], codes[e.Row] = e.Message, e.Code
		}
	}
	return messages, codes, nil
}

// record is what the checks read of a stored record: its name and its
// stamps, the import and row that created it and that last wrote it.
type record struct {
	ID     string
	Name   any
	Intake struct {
		Import        string
		Row           int
		CreatedImport string
		CreatedRow    int
	}
}

// recordOf reads a stored record's stamps: as flat fields (_intake_import,
// _intake_row, _intake_created_import, _intake_created_row), or as the
// forms of earlier versions, "<import>/<row>" strings (_intake_last,
// _intake_created) or the sub-document "_intake" ({import, row,
// created_import, created_row}).
func recordOf(d bson.M) record {
	r := record{ID: fmt.Sprint(d["_id"]), Name: d["name"]}
	sub, ok := d["_intake"].(bson.M)
	if dd, isD := d["_intake"].(bson.D); isD {
		sub, ok = bson.M{}, true
		for _, e := range dd {
			sub[e.Key] = e.Value
		}
	}
	if ok {
		r.Intake.Import, _ = sub["import"].(string)
		r.Intake.Row = toInt(sub["row"])
		r.Intake.CreatedImport, _ = sub["created_import"].(string)
		r.Intake.CreatedRow = toInt(sub["created_row"])
		return r
	}
	if imp, ok := d["_intake_import"].(string); ok {
		r.Intake.Import, r.Intake.Row = imp, toInt(d["_intake_row"])
		r.Intake.CreatedImport, _ = d["_intake_created_import"].(string)
		r.Intake.CreatedRow = toInt(d["_intake_created_row"])
		if r.Intake.CreatedImport != "" {
			return r
		}
		r.Intake.CreatedImport, r.Intake.CreatedRow = parseStamp(d["_intake_created"]) // updated after an upgrade
		return r
	}
	r.Intake.Import, r.Intake.Row = parseStamp(d["_intake_last"])
	r.Intake.CreatedImport, r.Intake.CreatedRow = parseStamp(d["_intake_created"])
	return r
}

func parseStamp(v any) (string, int) {
	text, _ := v.(string)
	s, _ := reconcile.ParseStamp(text)
	return s.Import, s.Row
}

func toInt(v any) int {
	switch n := v.(type) {
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 0
}

// readRecords reads a tenant's contacts, by _id; a record stored twice is an error.
func readRecords(ctx context.Context, mongoURI, tenant string) (map[string]record, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(ctx)
	cur, err := client.Database("intake_records").Collection("records."+tenant+".contacts").Find(ctx, bson.D{},
		options.Find().SetProjection(bson.D{{Key: "name", Value: 1}, {Key: "_intake", Value: 1},
			{Key: "_intake_last", Value: 1}, {Key: "_intake_created", Value: 1},
			{Key: "_intake_import", Value: 1}, {Key: "_intake_row", Value: 1},
			{Key: "_intake_created_import", Value: 1}, {Key: "_intake_created_row", Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := map[string]record{}
	for cur.Next(ctx) {
		var d bson.M
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		r := recordOf(d)
		if _, dup := out[r.ID]; dup {
			return nil, fmt.Errorf("record %s stored twice", r.ID)
		}
		out[r.ID] = r
	}
	return out, cur.Err()
}

// expect adjusts what checkImport expects of an import.
type expect struct {
	// existing are records that existed, with the file's values, before the
	// import: their rows are skipped ("unchanged") rather than created.
	existing map[string]bool
	// degraded allows rows a stage gave up on (dead-lettered: "could not be
	// processed/validated ..."): they are listed failed with that reason, the
	// import ends failed saying so, a record of such a row may exist (an
	// attempt wrote it before the stage gave up), and a later row with the
	// same key may then have created it.
	degraded bool
}

// outcome is what checkImport found.
type outcome struct {
	sum  client.Summary
	dead map[int]string // rows a stage gave up on, with the reason
}

// checkImport verifies the invariants of an import of tenant t once it has
// finished: a terminal state, the sum, each source row counted once in the
// right bucket (failed and skipped rows by number, created rows by the
// record stamped with this import and row), and exactly the expected
// records in the database (none missing, none extra, right values, created
// by the right row).
func checkImport(ctx context.Context, base, mongoURI string, t tenant, id string, c contacts, limit time.Duration, x expect) (outcome, error) {
	s, err := finished(ctx, base, t, id, limit)
	if err != nil {
		return outcome{}, err
	}
	out := outcome{sum: s, dead: map[int]string{}}
	failed, failedCodes, err := rowErrors(base, t, id, "failed")
	if err != nil {
		return out, err
	}
	skipped, skippedCodes, err := rowErrors(base, t, id, "skipped")
	if err != nil {
		return out, err
	}
	for row, msg := range failed {
		if failedCodes[row] == envelope.CodeDeadLetter {
			out.dead[row] = msg
		}
	}
	givenUp := fmt.Sprintf("%d rows were given up on", len(out.dead))
	if len(out.dead) == 1 {
		givenUp = "1 row was given up on"
	}
	switch {
	case len(out.dead) > 0 && !x.degraded:
		return out, fmt.Errorf("import %s: %d rows given up on, e.g. %s", id, len(out.dead), sample(out.dead))
	case len(out.dead) > 0 && (s.Status != "failed" || !strings.Contains(s.Reason, givenUp)):
		return out, fmt.Errorf("import %s ended %s (%q) with %d rows given up on; want failed, saying so", id, s.Status, s.Reason, len(out.dead))
	case len(out.dead) == 0 && s.Status != "completed":
		return out, fmt.Errorf("import %s ended %s: %s", id, s.Status, s.Reason)
	}
	if s.Total != c.total || s.Created+s.Updated+s.Skipped+s.Failed != s.Total {
		return out, fmt.Errorf("summary %+v does not add up to %d rows", s, c.total)
	}
	if s.Updated != 0 || len(failed) != s.Failed || len(skipped) != s.Skipped {
		return out, fmt.Errorf("summary %+v: %d rows listed failed, %d skipped", s, len(failed), len(skipped))
	}
	// Failed: the invalid rows, and the rows given up on.
	for row := range c.failed {
		if _, ok := failed[row]; !ok {
			return out, fmt.Errorf("row %d not listed failed", row)
		}
	}
	for row, msg := range failed {
		if !c.failed[row] && out.dead[row] == "" {
			return out, fmt.Errorf("row %d listed failed: %s", row, msg)
		}
	}
	// Skipped: the duplicates, and the rows whose record existed unchanged.
	wantSkipped := map[int]bool{}
	for row := range c.skipped {
		wantSkipped[row] = true
	}
	for key := range x.existing {
		wantSkipped[c.first[key]] = true
	}
	for row, msg := range skipped {
		if !wantSkipped[row] {
			return out, fmt.Errorf("row %d listed skipped: %s", row, msg)
		}
		if c.first[c.keyOf[row]] == row && skippedCodes[row] != envelope.CodeUnchanged {
			return out, fmt.Errorf("row %d, whose record existed, skipped: %s", row, msg)
		}
	}
	for row := range wantSkipped {
		if _, ok := skipped[row]; ok || out.dead[row] != "" {
			continue
		}
		// Only a row given up on can make a duplicate the first of its key.
		if !x.degraded || out.dead[c.first[c.keyOf[row]]] == "" {
			return out, fmt.Errorf("row %d not listed skipped", row)
		}
	}
	// Created: every other row, each by the record it created.
	recs, err := readRecords(ctx, mongoURI, t.name)
	if err != nil {
		return out, err
	}
	createdBy := map[int]bool{}
	for rid, r := range recs {
		if !strings.HasPrefix(rid, "email:"+c.tag+".") {
			continue // another import's
		}
		if _, ok := c.records[rid]; !ok {
			return out, fmt.Errorf("unexpected record %s", rid)
		}
		if x.existing[rid] {
			if r.Name != c.records[rid] || r.Intake.Import == id {
				return out, fmt.Errorf("record %s, which existed, was written: %+v", rid, r)
			}
			continue
		}
		row := r.Intake.CreatedRow
		if r.Intake.CreatedImport != id || r.Intake.Import != id || c.keyOf[row] != rid {
			return out, fmt.Errorf("record %s not created by a row of import %s with its key: %+v", rid, id, r)
		}
		if r.Name != c.name(row) {
			return out, fmt.Errorf("record %s name %v, want %q (row %d)", rid, r.Name, c.name(row), row)
		}
		if row != c.first[rid] && (!x.degraded || out.dead[c.first[rid]] == "") {
			return out, fmt.Errorf("record %s created by row %d, want row %d", rid, row, c.first[rid])
		}
		if out.dead[row] == "" {
			createdBy[row] = true
		}
	}
	for rid := range c.records {
		if _, ok := recs[rid]; !ok && !x.existing[rid] && out.dead[c.first[rid]] == "" {
			return out, fmt.Errorf("record %s missing", rid)
		}
	}
	if len(createdBy) != s.Created {
		return out, fmt.Errorf("summary %+v says %d created; %d records were created by rows not given up on", s, s.Created, len(createdBy))
	}
	for row := range createdBy {
		if _, ok := failed[row]; ok {
			return out, fmt.Errorf("row %d created a record and is listed failed", row)
		}
		if _, ok := skipped[row]; ok {
			return out, fmt.Errorf("row %d created a record and is listed skipped", row)
		}
	}
	return out, nil
}

func sample(rows map[int]string) string {
	keys := make([]int, 0, len(rows))
	for r := range rows {
		keys = append(keys, r)
	}
	sort.Ints(keys)
	if len(keys) == 0 {
		return "none"
	}
	return fmt.Sprintf("row %d: %s", keys[0], rows[keys[0]])
}

// watched is how an import ended: its summary, and how long after its last
// progress (a change of its processed count) it did.
type watched struct {
	sum  client.Summary
	idle time.Duration
	err  error
}

// watchEnd polls an import until it is no longer processing, noting when
// its processed count last changed.
func watchEnd(ctx context.Context, base string, t tenant, id string, limit time.Duration) watched {
	var w watched
	last, changed := -1, time.Now()
	w.err = waitFor(ctx, "import "+id+" to finish", limit, func() error {
		s, err := restOf(base, t).Summary(ctx, id, 0)
		if err != nil {
			return err
		}
		w.sum = *s
		if w.sum.Status != client.StatusProcessing {
			return nil
		}
		if w.sum.Processed != last {
			last, changed = w.sum.Processed, time.Now()
		}
		return fmt.Errorf("still processing: %+v", w.sum)
	})
	w.idle = time.Since(changed)
	return w
}

// checkPartial checks an import of c whose upload was cut off after sent
// rows: it ended failed with a reason, and what it counted is right: no row
// beyond those sent, each counted at most once and in its right bucket,
// created rows exactly by their records. It returns the records it created.
func checkPartial(ctx context.Context, base, mongoURI string, t tenant, id string, c contacts, sent int, limit time.Duration) (map[string]bool, client.Summary, error) {
	s, err := finished(ctx, base, t, id, limit)
	if err != nil {
		return nil, s, err
	}
	if s.Status != "failed" || !strings.Contains(s.Reason, "never sealed") {
		return nil, s, fmt.Errorf("cut-off import %s ended %s (%q); want failed, never sealed", id, s.Status, s.Reason)
	}
	if s.Updated != 0 || s.Created+s.Skipped+s.Failed != s.Processed || s.Processed > sent {
		return nil, s, fmt.Errorf("cut-off import %s: summary %+v for %d rows sent", id, s, sent)
	}
	lastRow := sent + 1
	for result, want := range map[string]map[int]bool{"failed": c.failed, "skipped": c.skipped} {
		rows, _, err := rowErrors(base, t, id, result)
		if err != nil {
			return nil, s, err
		}
		for row, msg := range rows {
			if !want[row] || row > lastRow {
				return nil, s, fmt.Errorf("cut-off import %s: row %d listed %s: %s", id, row, result, msg)
			}
		}
		if n := map[string]int{"failed": s.Failed, "skipped": s.Skipped}[result]; len(rows) != n {
			return nil, s, fmt.Errorf("cut-off import %s: %d rows listed %s, summary says %d", id, len(rows), result, n)
		}
	}
	recs, err := readRecords(ctx, mongoURI, t.name)
	if err != nil {
		return nil, s, err
	}
	created := map[string]bool{}
	for rid, r := range recs {
		if r.Intake.CreatedImport != id {
			continue
		}
		row := r.Intake.CreatedRow
		if c.first[rid] != row || row > lastRow || r.Name != c.name(row) || r.Intake.Import != id {
			return nil, s, fmt.Errorf("cut-off import %s: record %+v", id, r)
		}
		created[rid] = true
	}
	if len(created) != s.Created {
		return nil, s, fmt.Errorf("cut-off import %s: summary %+v, %d records created by it", id, s, len(created))
	}
	return created, s, nil
}

// job is an import for a tenant: its file and, once accepted, its ID.
type job struct {
	t  tenant
	c  contacts
	id string
}

// jobsFor makes one import per tenant, the i-th with rows>>i rows (at least
// 100) and tag prefix+"-"+tenant.
func jobsFor(tenants []tenant, rows int, prefix string) []*job {
	var jobs []*job
	for i, t := range tenants {
		jobs = append(jobs, &job{t: t, c: makeContacts(max(rows>>i, 100), prefix+t.name[:2])})
	}
	return jobs
}

// uploadJobs uploads every job at once and waits until all were accepted.
func uploadJobs(base string, jobs []*job) error {
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			var err error
			j.id, err = upload(base, j.t, j.c)
			if err != nil {
				errs[i] = fmt.Errorf("upload %s for %s: %w", j.c.tag, j.t.name, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkJobs checks every job's import exactly, then that tenants are kept apart.
func checkJobs(ctx context.Context, base, mongoURI string, jobs []*job, limit time.Duration) error {
	for _, j := range jobs {
		if _, err := checkImport(ctx, base, mongoURI, j.t, j.id, j.c, limit, expect{}); err != nil {
			return fmt.Errorf("tenant %s, import %s: %w", j.t.name, j.c.tag, err)
		}
	}
	return checkIsolation(ctx, base, mongoURI, jobs)
}

// checkIsolation checks that each tenant's records are only its own
// imports', that its import list has its imports and no other tenant's,
// and that it cannot read another tenant's import.
func checkIsolation(ctx context.Context, base, mongoURI string, jobs []*job) error {
	byTenant := map[tenant][]*job{}
	for _, j := range jobs {
		byTenant[j.t] = append(byTenant[j.t], j)
	}
	for t, own := range byTenant {
		recs, err := readRecords(ctx, mongoURI, t.name)
		if err != nil {
			return err
		}
	next:
		for rid := range recs {
			for _, j := range own {
				if strings.HasPrefix(rid, "email:"+j.c.tag+".") {
					continue next
				}
			}
			return fmt.Errorf("tenant %s has record %s of no import of its own", t.name, rid)
		}
		list, err := restOf(base, t).Imports(ctx, 1000)
		if err != nil {
			return err
		}
		listed := map[string]bool{}
		for _, s := range list {
			if s.Tenant != t.name {
				return fmt.Errorf("tenant %s's import list has %s of tenant %s", t.name, s.ID, s.Tenant)
			}
			listed[s.ID] = true
		}
		for _, j := range jobs {
			switch {
			case j.t == t && !listed[j.id]:
				return fmt.Errorf("tenant %s's import list lacks %s", t.name, j.id)
			case j.t != t && listed[j.id]:
				return fmt.Errorf("tenant %s's import list has %s of tenant %s", t.name, j.id, j.t.name)
			case j.t != t && t.key != "":
				var he *client.HTTPError
				if _, err := restOf(base, t).Summary(ctx, j.id, 0); !errors.As(err, &he) || he.Status != http.StatusNotFound {
					return fmt.Errorf("tenant %s reading %s of tenant %s: %v", t.name, j.id, j.t.name, err)
				}
			}
		}
	}
	return nil
}
