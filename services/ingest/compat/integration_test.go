package compat_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/services/ingest/compat"
)

// These tests run every contract through the real pipeline: app.Run's
// validator, deduplicator, writer and reporter on embedded NATS JetStream
// and FerretDB, with a real *ingest.API as the Importer.

const realCustomers = "Name,E-mail,Phone,Company\n" +
	"Ann Lee,ann@example.com,+1 201 555 0123,Acme\n" + // 2 created
	"Bob,bob@,,Beta\n" + // 3 failed: email
	"Ann L.,ANN@example.com,,Acme\n" + // 4 skipped: duplicate of row 2
	",cy@example.com,,Cyber\n" + // 5 failed: no name
	"Dee Doe,,+1 415 555 2671,Dee Co\n" + // 6 failed: the key (email) is missing
	"\n" + // 7 blank: not a row, keeps its number
	"Fay,fay@example.com,,\n" // 8 created

func TestRealCustomers(t *testing.T) {
	custReal := uniq("cust-real")
	s, base := realServer(t, nil)
	creds := bearer(jwt(t, custReal, "ann", auth.CapImportsWrite))

	r := post(t, base+"/customers/import", creds, file("file", "customers.csv", realCustomers))
	wantErrors := `[
		{"row":3,"field":"email","message":"email: 'bob@' is not a valid email address"},
		{"row":5,"field":"name","message":"at least one of name, first_name, last_name is required"},
		{"row":6,"field":"email","message":"email: required as the reconciliation key of this import"}]`
	expect(t, r, 200, `{"total":6,"created":2,"updated":0,"skipped":1,"errors":`+wantErrors+`}`)

	// The same file again: nothing changes; the two stored customers are
	// unchanged (skipped), the duplicate is skipped again.
	r = post(t, base+"/customers/import", creds, file("file", "customers.csv", realCustomers))
	expect(t, r, 200, `{"total":6,"created":0,"updated":0,"skipped":3,"errors":`+wantErrors+`}`)

	// A change updates; with an API key from the real store.
	key, _, err := s.store.CreateKey(context.Background(), custReal, "test", []string{auth.CapImportsWrite})
	if err != nil {
		t.Fatal(err)
	}
	r = post(t, base+"/customers/import", map[string]string{"X-API-Key": key}, file("file", "c.csv", "name,email,company\nAnn Lee,ann@example.com,Acme Corp\nGus,gus@example.com,\n"))
	expect(t, r, 200, `{"total":2,"created":1,"updated":1,"skipped":0,"errors":[]}`)
	recs := s.records(t, custReal, "customers")
	if len(recs) != 3 || recs["email:ann@example.com"]["company"] != "Acme Corp" || recs["email:ann@example.com"]["phone"] != "+12015550123" {
		t.Fatalf("records %v", recs)
	}
}

func TestRealCustomersLimitImportsNothing(t *testing.T) {
	custLimit := uniq("cust-limit")
	s, base := realServer(t, nil)
	creds := bearer(jwt(t, custLimit, "ann", auth.CapImportsWrite))
	r := post(t, base+"/customers/import", creds, file("file", "c.csv", csvRows(101)))
	expect(t, r, 422, customers422("value_error.too_many_rows", "the file has 101 data rows; at most 100 are allowed per file"))
	if n := s.imports(t, custLimit); n != 0 {
		t.Fatalf("%d imports started for a refused file", n)
	}
	if recs := s.records(t, custLimit, "customers"); len(recs) != 0 {
		t.Fatalf("%d records written for a refused file", len(recs))
	}
	// 100 rows are imported whole.
	r = post(t, base+"/customers/import", creds, file("file", "c.csv", csvRows(100)))
	expect(t, r, 200, `{"total":100,"created":100,"updated":0,"skipped":0,"errors":[]}`)

	// A header without rows is an empty import, not an error.
	r = post(t, base+"/customers/import", creds, file("file", "c.csv", "name,email\n"))
	expect(t, r, 200, `{"total":0,"created":0,"updated":0,"skipped":0,"errors":[]}`)

	// A header that matches no field is refused by the pipeline: 422.
	r = post(t, base+"/customers/import", creds, file("file", "c.csv", "foo,bar\n1,2\n"))
	if r.status != 422 || !strings.Contains(r.raw, `"type":"value_error"`) || !strings.Contains(r.raw, "no column of the header matches schema customers") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

func TestRealCustomersXLSX(t *testing.T) {
	custXLSX := uniq("cust-xlsx")
	_, base := realServer(t, nil)
	_, x := customersTemplate(t)
	r := post(t, base+"/customers/import", bearer(jwt(t, custXLSX, "ann", auth.CapImportsWrite)), file("file", "customers.xlsx", string(x)))
	expect(t, r, 200, `{"total":1,"created":1,"updated":0,"skipped":0,"errors":[]}`)
}

const realPersons = `"slashid:emails","slashid:phone_numbers","slashid:usernames","slashid:region","slashid:groups","slashid:attributes"
"ann@example.com,ann@work.example","+14155552671","ann","europe-belgium","Admin,Editor","{""end_user_read_write"":{""nickname"":""Annie""}}"
"bob@example.com","","","mars","",""
"ANN@example.com","","","","",""
"","+14155550100","carl","","",""
"","","carl","","",""
"=HYPERLINK(""http://evil"")","","","","",""
"dee@example.com","","","us-iowa","","{""end_user_read_only"":{""tier"":""gold""}}"
`

func TestRealPersons(t *testing.T) {
	orgReal := uniq("org-real")
	orgSmall := uniq("org-small")
	s, base := realServer(t, func(c *compat.Config) {
		c.PersonsRowLimit = func(org string) int {
			if org == orgSmall {
				return 3
			}
			return 0
		}
	})
	creds := withHeaders(bearer(jwt(t, orgReal, "ann", auth.CapImportsWrite)), map[string]string{"SlashID-OrgID": orgReal})
	r := post(t, base+"/persons/bulk-import", creds, file("persons", "persons.csv", realPersons))
	wantCSV := "slashid:emails,slashid:phone_numbers,slashid:usernames,slashid:region,slashid:groups,slashid:attributes,reason\r\n" +
		"bob@example.com,,,mars,,,\"region: 'mars' is not one of us-iowa, europe-belgium, asia-japan, europe-england, australia-sydney\"\r\n" +
		"ANN@example.com,,,,,,duplicate of row 2 (same emails ann@example.com)\r\n" +
		",,carl,,,,duplicate of row 5 (same usernames carl)\r\n" +
		"\"'=HYPERLINK(\"\"http://evil\"\")\",,,,,,\"emails: '=HYPERLINK(\"\"http://evil\"\")' is not a valid email address\"\r\n"
	want := func(ok, failed int) string {
		return js(map[string]any{
			"meta":   map[string]any{"pagination": map[string]any{"limit": 0, "offset": 0, "total_count": 7}},
			"errors": []any{},
			"result": map[string]any{"successful_imports": ok, "failed_imports": failed, "failed_csv": wantCSV},
		})
	}
	expect(t, r, 200, want(3, 4))
	recs := s.records(t, orgReal, "persons")
	ann := recs["emails:ann@example.com"]
	// carl has no email: a phone number and a username are handles too.
	if len(recs) != 3 || recs["phone_numbers:+14155550100"] == nil || ann == nil || js(ann["groups"]) != `["Admin","Editor"]` || js(ann["attributes"]) != `{"end_user_read_write":{"nickname":"Annie"}}` {
		t.Fatalf("records %v", recs)
	}
	// Again: the three persons are already as the file has them (successful),
	// the same four rows fail for the same reasons.
	r = post(t, base+"/persons/bulk-import", creds, file("persons", "persons.csv", realPersons))
	expect(t, r, 200, want(3, 4))

	// Over the organization's plan: 402, nothing imported.
	small := withHeaders(bearer(jwt(t, orgSmall, "ann", auth.CapImportsWrite)), map[string]string{"SlashID-OrgID": orgSmall})
	r = post(t, base+"/persons/bulk-import", small, file("persons", "persons.csv", realPersons))
	expect(t, r, 402, personsErr(402, "Pricing Tier Violation: the file has 7 persons; the organization's plan allows at most 3 per import"))
	if n := s.imports(t, orgSmall); n != 0 {
		t.Fatalf("%d imports for a refused file", n)
	}
	// A header that matches nothing: 400 in the envelope.
	r = post(t, base+"/persons/bulk-import", creds, file("persons", "p.csv", "email_address_list\nx\n"))
	if r.status != 400 || !strings.Contains(r.raw, `"httpcode":400`) || strings.Contains(r.raw, `"result"`) {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

const realCommunity = "First Name,Last Name,Username,Email,Phone,Country,Language,Role,Tag\n" +
	"Ann,Smith,annsmith,ann@example.com,+6591234567,Singapore,English,\"Member,VIP\",trader\n" + // 2 created
	"Bob,Jones,bobj,bob@example.com,,,,,\n" + // 3 created
	",,,carl@example.com,,,,,\n" + // 4 failed: a new user needs names and a username
	"Dup,Dup,dup,ANN@example.com,,,,,\n" + // 5 skipped: duplicate of row 2
	"Eve,Evans,eve,eve@,,,,,\n" // 6 failed: email

func TestRealCommunityUsers(t *testing.T) {
	commReal := uniq("comm-real")
	commOther := uniq("comm-other")
	s, base := realServer(t, nil)
	creds := bearer(jwt(t, commReal, "ann", auth.CapImportsWrite, auth.CapImportsRead))

	r := post(t, base+"/apis/v1/users/bulk-import", creds, file("data", "users.csv", realCommunity), field("communityId", commReal))
	expect(t, r, 200, `{}`)
	first := waitLog(t, base, creds, commReal, 1)
	r = get(t, base+"/apis/v1/users/bulk-import/logs/"+first+"?communityId="+commReal, creds)
	m := r.object(t)
	delete(m, "created_at")
	delete(m, "completed_at")
	expectValue(t, m, `{"id":"`+first+`","type":"bulk-import","status":"completed","file":"users.csv","total":5,"processed":5,"created":2,"updated":0,"skipped":1,"failed":2,
		"errors":[
			{"row":4,"field":"first_name","message":"first_name: required to create a new record (it may be left empty only to keep the value of an existing one)"},
			{"row":4,"field":"last_name","message":"last_name: required to create a new record (it may be left empty only to keep the value of an existing one)"},
			{"row":4,"field":"username","message":"username: required to create a new record (it may be left empty only to keep the value of an existing one)"},
			{"row":6,"field":"email","message":"email: 'eve@' is not a valid email address"}],
		"skipped_rows":[{"row":5,"field":"email","message":"duplicate of row 2 (same email ann@example.com)"}]}`)

	// bulk-update: empty cells leave fields as they are; unknown users are not created.
	update := "First Name,Last Name,Username,Email,Phone,Country,Language,Role,Tag\n" +
		",,,ann@example.com,,Malaysia,,,\n" +
		"Zed,Z,zed,zed@example.com,,,,,\n"
	r = post(t, base+"/apis/v1/users/bulk-update", creds, file("data", "update.csv", update), field("communityId", commReal))
	expect(t, r, 200, `{}`)
	second := waitLog(t, base, creds, commReal, 2)
	r = get(t, base+"/apis/v1/users/bulk-import/logs/"+second+"?communityId="+commReal, creds)
	m = r.object(t)
	delete(m, "created_at")
	delete(m, "completed_at")
	expectValue(t, m, `{"id":"`+second+`","type":"bulk-update","status":"completed","file":"update.csv","total":2,"processed":2,"created":0,"updated":1,"skipped":1,"failed":0,
		"errors":[],"skipped_rows":[{"row":3,"message":"no existing record with email zed@example.com (update mode does not create records)"}]}`)
	ann := s.records(t, commReal, "community_users")["email:ann@example.com"]
	if ann["country"] != "Malaysia" || ann["first_name"] != "Ann" || ann["phone"] != "+6591234567" || ann["username"] != "annsmith" {
		t.Fatalf("ann after the update: %v", ann)
	}

	// The log lists both, newest first.
	r = get(t, base+"/apis/v1/users/bulk-import/logs?communityId="+commReal, creds)
	logs := r.object(t)["logs"].([]any)
	if len(logs) != 2 || logs[0].(map[string]any)["id"] != second || logs[1].(map[string]any)["type"] != "bulk-import" {
		t.Fatalf("logs %s", r.raw)
	}
	// Another community cannot read it.
	other := bearer(jwt(t, commOther, "eve", auth.CapImportsRead))
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs?communityId="+commReal, other), 403,
		`{"message":"forbidden: the credentials do not belong to community `+commReal+`"}`)
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs/"+first+"?communityId="+commOther, other), 404, `{"message":"import not found"}`)
}

// waitLog waits until the community's log holds n imports, the newest
// finished, and returns the newest one's ID.
func waitLog(t *testing.T, base string, creds map[string]string, community string, n int) string {
	t.Helper()
	var id string
	eventually(t, 60*time.Second, func() error {
		r := get(t, base+"/apis/v1/users/bulk-import/logs?communityId="+community, creds)
		logs, _ := r.object(t)["logs"].([]any)
		if len(logs) < n {
			return fmt.Errorf("%d imports in the log", len(logs))
		}
		l := logs[0].(map[string]any)
		if l["status"] != "completed" {
			return fmt.Errorf("newest import %v", l)
		}
		id = l["id"].(string)
		return nil
	})
	return id
}

var uniqN atomic.Int64

// uniq makes a tenant name unique in this process, so tests can run again
// (-count) on the same system.
func uniq(name string) string { return fmt.Sprintf("%s-%d", name, uniqN.Add(1)) }

func expectValue(t *testing.T, got map[string]any, want string) {
	t.Helper()
	expect(t, response{status: 200, raw: js(got)}, 200, want)
}

const realAudience = "First Name;Last Name;Email;Mobile Number;Country;State;Last Active Date\n" +
	"User;One;one@example.com;+1 415 555 2671;United States;California;2024-03-31\n" + // 2 inserted
	"User;Seven;seven@example.com;+1 415 555 2672;United States;Texas;\n" + // 3 inserted, last active today
	"User;Dup;dup@example.com;(415) 555-2671;United States;Ohio;2024-01-01\n" + // 4 skipped: same mobile as row 2
	"User;NoMobile;nm@example.com;;United States;Ohio;2024-01-01\n" + // 5 failed: the key is missing
	";Blank;blank@example.com;+1 415 555 2673;United States;New York;2024-01-01\n" // 6 failed: first name

func TestRealAudience(t *testing.T) {
	audReal := uniq("aud-real")
	audOther := uniq("aud-other")
	s, base := realServer(t, nil)
	creds := bearer(jwt(t, audReal, "ann", auth.CapImportsWrite, auth.CapImportsRead))
	semi := withHeaders(creds, map[string]string{"DELIMITER": "SEMI_COLON"})

	upload := func(h map[string]string, csv string, fields ...part) string {
		t.Helper()
		r := post(t, base+"/vpns/api/v1/audience/import", h, append([]part{file("uploadFile", "users.csv", csv)}, fields...)...)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		var body compat.AudienceAcceptedBody
		r.decode(t, &body)
		if body.Message != "File uploaded successfully, import is in progress." || !strings.HasPrefix(body.ID, "imp_") {
			t.Fatalf("%s", r.raw)
		}
		return body.ID
	}
	status := func(id string) map[string]any {
		t.Helper()
		var m map[string]any
		eventually(t, 60*time.Second, func() error {
			r := get(t, base+"/vpns/api/v1/audience/import/"+id, creds)
			m = r.object(t)
			if m["status"] == "IN_PROGRESS" {
				return fmt.Errorf("still in progress: %s", r.raw)
			}
			return nil
		})
		delete(m, "createdAt")
		delete(m, "completedAt")
		return m
	}

	id := upload(semi, realAudience, field("reconciliationKey", "mobileNumber"))
	expectValue(t, status(id), `{"id":"`+id+`","status":"COMPLETED","message":"Import completed; some records failed.","importType":"insert",
		"reconciliationKey":"mobileNumber","fileName":"users.csv","totalRecords":5,"processedRecords":5,"insertedRecords":2,"updatedRecords":0,
		"skippedRecords":1,"failedRecords":2,"deletedRecords":0,"errors":[
			{"row":5,"field":"mobile_number","message":"mobile_number: required as the reconciliation key of this import"},
			{"row":6,"field":"first_name","message":"first_name: required"}]}`)
	recs := s.records(t, audReal, "audience_users")
	today := time.Now().UTC().Format("2006-01-02")
	// Dates are stored as BSON dates (UTC midnight).
	if d, ok := recs["mobile_number:+14155552672"]["last_active_date"].(bson.DateTime); len(recs) != 2 || !ok || d.Time().UTC().Format("2006-01-02") != today {
		t.Fatalf("records %v", recs)
	}

	// insert again: existing users are errors.
	id = upload(semi, "First Name;Last Name;Email;Mobile Number;Country;State;Last Active Date\nUser;One;one@example.com;+1 415 555 2671;United States;California;2024-03-31\n",
		field("reconciliationKey", "mobileNumber"), field("importType", "insert"))
	m := status(id)
	if m["failedRecords"] != 1.0 || !strings.Contains(js(m["errors"]), "already exists") {
		t.Fatalf("insert of an existing user: %v", m)
	}
	// upsert with the PIPE delimiter: updates.
	pipe := withHeaders(creds, map[string]string{"DELIMITER": "PIPE"})
	id = upload(pipe, "First Name|Last Name|Email|Mobile Number|Country|State|Last Active Date\nUser|One|one@example.com|+1 415 555 2671|United States|Nevada|2024-04-01\n",
		field("reconciliationKey", "mobileNumber"), field("importType", "upsert"))
	if m := status(id); m["updatedRecords"] != 1.0 || m["importType"] != "upsert" {
		t.Fatalf("upsert: %v", m)
	}
	// delsert: the file's users replace all others.
	id = upload(semi, "First Name;Last Name;Email;Mobile Number;Country;State;Last Active Date\nNew;User;new@example.com;+1 415 555 2674;United States;Utah;2024-05-01\n",
		field("reconciliationKey", "mobileNumber"), field("importType", "delsert"))
	if m := status(id); m["insertedRecords"] != 1.0 || m["deletedRecords"] != 2.0 || m["importType"] != "delsert" || m["status"] != "COMPLETED" {
		t.Fatalf("delsert: %v", m)
	}
	if recs := s.records(t, audReal, "audience_users"); len(recs) != 1 || recs["mobile_number:+14155552674"] == nil {
		t.Fatalf("after delsert: %v", recs)
	}
	// delsert with a failed row deletes nothing, and the status says why.
	id = upload(semi, "First Name;Last Name;Email;Mobile Number;Country;State;Last Active Date\nAnother;User;another@example.com;+1 415 555 2675;United States;Utah;2024-05-01\n;NoName;x@example.com;+1 415 555 2676;US;Utah;\n",
		field("reconciliationKey", "mobileNumber"), field("importType", "delsert"))
	m = status(id)
	if m["deletedRecords"] != 0.0 || m["insertedRecords"] != 1.0 || m["failedRecords"] != 1.0 ||
		!strings.HasPrefix(m["message"].(string), "Import completed; some records failed. ") {
		t.Fatalf("delsert with a failed row: %v", m)
	}
	t.Logf("delsert with a failed row: %s", m["message"])
	if recs := s.records(t, audReal, "audience_users"); len(recs) != 2 {
		t.Fatalf("after a delsert with a failed row: %v", recs)
	}

	// A user created under the email is found by the mobile number: an
	// upsert by mobileNumber updates it (no second user), and a delsert by
	// mobileNumber keeps it and deletes only the user the file lacks.
	const head = "First Name;Last Name;Email;Mobile Number;Country;State;Last Active Date\n"
	id = upload(semi, head+"Em;Ail;em@example.com;+1 415 555 2677;United States;Utah;2024-05-01\n",
		field("reconciliationKey", "email"), field("importType", "insert"))
	if m := status(id); m["insertedRecords"] != 1.0 {
		t.Fatalf("insert by email: %v", m)
	}
	id = upload(semi, head+"Em;Ail;em@example.com;+1 415 555 2677;United States;Iowa;2024-05-01\n",
		field("reconciliationKey", "mobileNumber"), field("importType", "upsert"))
	if m := status(id); m["updatedRecords"] != 1.0 || m["insertedRecords"] != 0.0 {
		t.Fatalf("upsert by mobile of a user created by email: %v", m)
	}
	if recs := s.records(t, audReal, "audience_users"); len(recs) != 3 || recs["email:em@example.com"]["state"] != "Iowa" {
		t.Fatalf("after the upsert by mobile: %v", recs)
	}
	id = upload(semi, head+"Em;Ail;em@example.com;+1 415 555 2677;United States;Iowa;2024-05-01\nNew;User;new@example.com;+1 415 555 2674;United States;Utah;2024-05-01\n",
		field("reconciliationKey", "mobileNumber"), field("importType", "delsert"))
	if m := status(id); m["deletedRecords"] != 1.0 || m["insertedRecords"] != 0.0 || m["status"] != "COMPLETED" {
		t.Fatalf("delsert by mobile: %v", m)
	}
	if recs := s.records(t, audReal, "audience_users"); len(recs) != 2 || recs["email:em@example.com"] == nil || recs["mobile_number:+14155552674"] == nil {
		t.Fatalf("after the delsert by mobile: %v", recs)
	}

	// Not a CSV file: the seed's 400.
	r := post(t, base+"/vpns/api/v1/audience/import", creds, file("uploadFile", "u.png", "\x89PNG\r\n\x1a\n\x00\x00"))
	expect(t, r, 400, `{"message":"Please upload a valid CSV file","detail":"the file looks like a PNG image, not CSV or XLSX"}`)
	// An unknown reconciliation key: 400 too.
	r = post(t, base+"/vpns/api/v1/audience/import", semi, file("uploadFile", "u.csv", realAudience), field("reconciliationKey", "country"))
	if r.status != 400 || !strings.Contains(r.raw, "Please upload a valid CSV file") || !strings.Contains(r.raw, "not allowed") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	// Another tenant does not see the import.
	expect(t, get(t, base+"/vpns/api/v1/audience/import/"+id, bearer(jwt(t, audOther, "eve", auth.CapImportsRead))), 404, `{"message":"Import not found"}`)
}

func TestRealPhonebook(t *testing.T) {
	pbReal := uniq("pb-real")
	s, base := realServer(t, nil)
	user1 := bearer(jwt(t, pbReal, "user-1", compat.CapPhonebook))
	user2 := bearer(jwt(t, pbReal, "user-2", compat.CapPhonebook))

	// The seed's request, verbatim.
	r := post(t, base+"/phonebook/import/", user1, field("file", "contacts.csv"), field("csv_content", seedPhonebookCSV))
	expect(t, r, 200, `{"message":"phonebook import completed","total_rows":2,"imported_rows":2,"failed_rows":0,"skipped_rows":0,"error_messages":[]}`)

	file2 := "name,workemail,cellphone\n" +
		"John Doe,john@example.com,555-1234\n" + // 2 unchanged: imported
		"Jane Smith,jane@,555-5678\n" + // 3 skipped: email
		",nobody@example.com,\n" + // 4 skipped: name
		"John D.,JOHN@example.com,\n" + // 5 skipped: duplicate of row 2
		"Kim Lee,kim@example.com,+1 415 555 2671\n" + // 6 imported
		"Lou,,555-9999\n" // 7 skipped: the key (workemail) is missing
	r = post(t, base+"/phonebook/import/", user1, file("file", "contacts.csv", file2))
	expect(t, r, 200, `{"message":"phonebook import completed","total_rows":6,"imported_rows":2,"failed_rows":0,"skipped_rows":4,"error_messages":[
		"row 3: workemail: 'jane@' is not a valid email address",
		"row 4: name: required",
		"row 5: duplicate of row 2 (same workemail john@example.com)",
		"row 7: workemail: required as the reconciliation key of this import"]}`)

	// Another user's phonebook is their own: the same contacts are new there.
	r = post(t, base+"/phonebook/import/", user2, field("csv_content", seedPhonebookCSV))
	expect(t, r, 200, `{"message":"phonebook import completed","total_rows":2,"imported_rows":2,"failed_rows":0,"skipped_rows":0,"error_messages":[]}`)
	t1 := compat.PhonebookTenant(auth.Principal{Tenant: pbReal, Subject: "user-1"})
	t2 := compat.PhonebookTenant(auth.Principal{Tenant: pbReal, Subject: "user-2"})
	r1, r2 := s.records(t, t1, "phonebook_contacts"), s.records(t, t2, "phonebook_contacts")
	if len(r1) != 3 || len(r2) != 2 || r1["workemail:john@example.com"]["cellphone"] != "555-1234" {
		t.Fatalf("user 1: %v\nuser 2: %v", r1, r2)
	}
	// Invalid CSV: 400.
	r = post(t, base+"/phonebook/import/", user1, file("file", "c.csv", "\x89PNG\r\n\x1a\n\x00"))
	expect(t, r, 400, `{"message":"invalid CSV","error":"the file looks like a PNG image, not CSV or XLSX"}`)
}
