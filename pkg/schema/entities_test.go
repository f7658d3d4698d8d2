package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const entitiesDir = "../../schemas/entities"

// parseEntities parses every schema file of schemas/entities and returns
// the files and their schemas, in the same order.
func parseEntities(t testing.TB) ([]string, []*Schema) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(entitiesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no entity schemas in %s (%v)", entitiesDir, err)
	}
	schemas := make([]*Schema, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if schemas[i], err = Parse(data); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return files, schemas
}

// loadEntities parses every schema file of schemas/entities, checks that
// each is named and described as templates need, and fixes their clock.
func loadEntities(t testing.TB) map[string]*Schema {
	t.Helper()
	files, schemas := parseEntities(t)
	out := map[string]*Schema{}
	for i, f := range files {
		s := schemas[i]
		if want := strings.TrimSuffix(filepath.Base(f), ".json"); s.Name != want {
			t.Errorf("%s: schema name %q, want the file name %q", f, s.Name, want)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", f)
		}
		// GET /v1/schemas shows descriptions to the people who import: the
		// contracts' reading behind a schema belongs in docs/compat.md.
		for _, internal := range []string{"seeds/", "contract ", "ResolveKey", "Validate", "required_on_create", "CheckCreate"} {
			if strings.Contains(s.Description, internal) {
				t.Errorf("%s: the description speaks of %q, which means nothing to a user", f, internal)
			}
		}
		for _, fd := range s.Fields {
			if fd.Description == "" || fd.Example == "" {
				t.Errorf("%s: field %s needs a description and an example (templates use them)", f, fd.Name)
			}
		}
		s.SetClock(func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) })
		out[s.Name] = s
	}
	return out
}

type entityCase struct {
	header  []string
	key     string // requested key ("" default)
	row     []string
	want    map[string]any // valid row: the whole record
	wantErr []string       // invalid row: the messages, in order
}

func TestEntitySchemas(t *testing.T) {
	schemas := loadEntities(t)
	cases := map[string][]entityCase{
		"contacts": {
			{
				header: []string{"Full Name", "E-mail", "Phone Number", "Company"},
				row:    []string{"Ann Smith", "Ann@Example.com", "(415) 555-2671", "Acme"},
				want:   map[string]any{"name": "Ann Smith", "email": "ann@example.com", "phone": "+14155552671", "company": "Acme"},
			},
			{
				header:  []string{"name", "email", "phone"},
				row:     []string{"Bob", "bob@", "12"},
				wantErr: []string{"email: 'bob@' is not a valid email address", "phone: '12' is not a valid phone number (include the area code; numbers outside US need + and the country code)"},
			},
		},
		"customers": {
			{
				header: []string{"Customer Name", "Email Address", "Phone", "Company Name", "Tags", "Customer ID"},
				row:    []string{"Ann Smith", "ann.smith@example.com", "+44 20 7946 0958", "Acme Ltd", "vip, newsletter,vip", "CUST-1"},
				want: map[string]any{"name": "Ann Smith", "email": "ann.smith@example.com", "phone": "+442079460958", "company": "Acme Ltd",
					"tags": []string{"vip", "newsletter"}, "external_id": "CUST-1"},
			},
			{
				header: []string{"first name", "last name", "customer id"},
				key:    "external_id",
				row:    []string{"", "", "C-9"},
				wantErr: []string{
					"at least one of name, first_name, last_name is required",
					"at least one of email, phone is required",
				},
			},
		},
		"persons": {
			{
				header: []string{"slashid:emails", "slashid:phone_numbers", "slashid:usernames", "slashid:region", "slashid:groups", "slashid:attributes"},
				row: []string{"Ann@Example.com, ann@work.example", "+1 415 555 2671", "ann", "Europe-Belgium", "Admin,Editor",
					`{"end_user_read_write": {"nickname": "Annie", "age": 42}}`},
				want: map[string]any{
					"emails": []string{"ann@example.com", "ann@work.example"}, "phone_numbers": []string{"+14155552671"},
					"usernames": []string{"ann"}, "region": "europe-belgium", "groups": []string{"Admin", "Editor"},
					"attributes": map[string]any{"end_user_read_write": map[string]any{"nickname": "Annie", "age": float64(42)}},
				},
			},
			{
				header: []string{"slashid:emails", "slashid:phone_numbers", "slashid:usernames", "slashid:region", "slashid:attributes"},
				key:    "handles",
				row:    []string{"bob@, carl@example.com", "4155552671", "", "mars", `["x"]`},
				wantErr: []string{
					"emails: 'bob@' is not a valid email address",
					"phone_numbers: '4155552671' is not a valid phone number (write it in international format with + and the country code, e.g. +14155552671)",
					"region: 'mars' is not one of us-iowa, europe-belgium, asia-japan, europe-england, australia-sydney",
					`attributes: '["x"]' is not a JSON object (expected e.g. {"end_user_read_write": {"nickname": "Annie"}})`,
				},
			},
		},
		"community_users": {
			{
				header: []string{"First Name", "Last Name", "Username", "Email", "Phone", "Country", "Language", "Role", "Tag"},
				row:    []string{"Ann", "Smith", "annsmith", "ANN@example.com", "+65 9123 4567", "Singapore", "English", "Member, VIP", "trader"},
				want: map[string]any{"first_name": "Ann", "last_name": "Smith", "username": "annsmith", "email": "ann@example.com",
					"phone": "+6591234567", "country": "Singapore", "language": "English", "roles": []string{"Member", "VIP"}, "tags": []string{"trader"}},
			},
			{
				header:  []string{"First Name", "Last Name", "Username", "Email", "Phone"},
				row:     []string{strings.Repeat("A", 51), "", "", "", "9123 4567"},
				wantErr: []string{"first_name: '" + strings.Repeat("A", 51) + "' is longer than 50 characters", "phone: '9123 4567' is not a valid phone number (write it in international format with + and the country code, e.g. +14155552671)", "email: required"},
			},
		},
		"audience_users": {
			{
				header: []string{"First Name", "Last Name", "Email", "Mobile Number", "Country", "State", "Last Active Date"},
				key:    "mobileNumber",
				row:    []string{"Ann", "Smith", "ann@example.com", "415-555-2671", "United States", "California", ""},
				want: map[string]any{"first_name": "Ann", "last_name": "Smith", "email": "ann@example.com", "mobile_number": "+14155552671",
					"country": "United States", "state": "California", "last_active_date": "2025-06-01"},
			},
			{
				header: []string{"First Name", "Last Name", "Email", "Country", "State", "Last Active Date"},
				row:    []string{"Ann", "Smith", "ann@example.com", "US", "CA", "03/31/2024"},
				want: map[string]any{"first_name": "Ann", "last_name": "Smith", "email": "ann@example.com",
					"country": "US", "state": "CA", "last_active_date": "2024-03-31"},
			},
			{
				header: []string{"First Name", "Last Name", "Email", "Mobile Number", "Country", "State", "Last Active Date"},
				key:    "Mobile Number",
				row:    []string{"Ann", "", "ann@example", "", "US", "", "31/31/2020"},
				wantErr: []string{
					"email: 'ann@example' is not a valid email address",
					"last_active_date: '31/31/2020' is not a date (expected e.g. 2024-03-31)",
					"last_name: required",
					"mobile_number: required as the reconciliation key of this import",
					"state: required",
				},
			},
		},
		"phonebook_contacts": {
			{
				header: []string{"name", "workemail", "cellphone"},
				row:    []string{"John Doe", "john@example.com", "555-1234"},
				want:   map[string]any{"name": "John Doe", "workemail": "john@example.com", "cellphone": "555-1234"},
			},
			{
				header: []string{"name", "workemail", "cellphone"},
				row:    []string{"Jane Smith", "jane@example.com", "(415) 555-2671"},
				want:   map[string]any{"name": "Jane Smith", "workemail": "jane@example.com", "cellphone": "+14155552671"},
			},
			{
				header:  []string{"name", "workemail", "cellphone"},
				row:     []string{"", "jane(at)example.com", "call me"},
				wantErr: []string{"workemail: 'jane(at)example.com' is not a valid email address", "cellphone: 'call me' is not a valid phone number (include the area code; numbers outside US need + and the country code)", "name: required"},
			},
		},
	}
	for name, s := range schemas {
		cs, ok := cases[name]
		if !ok {
			t.Errorf("schema %s has no test case", name)
			continue
		}
		for i, c := range cs {
			hm, err := s.MapHeader(c.header)
			if err != nil {
				t.Errorf("%s #%d: header: %v", name, i, err)
				continue
			}
			key, err := s.ResolveKey(c.key)
			if err != nil {
				t.Errorf("%s #%d: key: %v", name, i, err)
				continue
			}
			rec, errs := s.Validate(hm, c.row, key)
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Message)
				if e.Field != "" && !strings.HasPrefix(e.Message, e.Field+": ") && !strings.HasPrefix(e.Message, "at least one of") {
					t.Errorf("%s #%d: message %q does not start with its field %s", name, i, e.Message, e.Field)
				}
			}
			if c.want != nil {
				if len(errs) > 0 {
					t.Errorf("%s #%d: unexpected errors %q", name, i, msgs)
					continue
				}
				if !reflect.DeepEqual(rec, c.want) {
					t.Errorf("%s #%d: record\n got %#v\nwant %#v", name, i, rec, c.want)
				}
				// The record survives a trip through JSON.
				data, _ := json.Marshal(rec)
				var back map[string]any
				_ = json.Unmarshal(data, &back)
				if got := s.Restore(back); !reflect.DeepEqual(got, rec) {
					t.Errorf("%s #%d: restored record\n got %#v\nwant %#v", name, i, got, rec)
				}
				continue
			}
			if strings.Join(msgs, "\n") != strings.Join(c.wantErr, "\n") {
				t.Errorf("%s #%d: errors\n got %q\nwant %q", name, i, msgs, c.wantErr)
			}
		}
	}
}

// The example row of every schema (what templates write) is valid, with
// the template's headers.
func TestEntityExamplesValidate(t *testing.T) {
	for name, s := range loadEntities(t) {
		hm, err := s.MapHeader(s.Headers())
		if err != nil {
			t.Errorf("%s: template header: %v", name, err)
			continue
		}
		row := make([]string, len(s.Fields))
		for i, f := range s.Fields {
			row[i] = f.Example
		}
		if name == "contacts" {
			row = []string{"Ann Smith", "ann@example.com", "+1 415 555 2671", "Acme"}
		}
		for _, k := range s.Keys {
			if _, errs := s.Validate(hm, row, k); len(errs) > 0 {
				t.Errorf("%s (key %s): example row invalid: %v", name, k, errs)
			}
		}
	}
}

func TestEntityKeys(t *testing.T) {
	schemas := loadEntities(t)
	p := schemas["persons"]
	hm, _ := p.MapHeader([]string{"slashid:emails", "slashid:usernames"})
	rec, errs := p.Validate(hm, []string{"Ann@example.com,ann@work.example", "ann"}, "emails")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := Keys("emails", rec); !reflect.DeepEqual(got, []string{"emails:ann@example.com", "emails:ann@work.example"}) {
		t.Errorf("Keys = %q", got)
	}
	if got := Key("emails", rec); got != "emails:ann@example.com" {
		t.Errorf("Key = %q", got)
	}
	if got := Key("usernames", rec); got != "usernames:ann" {
		t.Errorf("Key = %q", got)
	}
	// Persons match on any handle: every item of every key field, in order.
	rec2, errs := p.Validate(hm, []string{"Ann@example.com,ann@work.example", "ann"}, AnyHandle)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := p.Handles(rec2); !reflect.DeepEqual(got, []string{"emails:ann@example.com", "emails:ann@work.example", "usernames:ann"}) {
		t.Errorf("Handles = %q", got)
	}
	if k, err := p.ResolveKey(""); err != nil || k != AnyHandle {
		t.Errorf("persons default key = %q, %v", k, err)
	}
	if _, err := p.ResolveKey("emails"); err == nil {
		t.Error("a single-field key was accepted for a schema matched on any handle")
	}
	// After JSON the list is []any: same keys.
	data, _ := json.Marshal(rec)
	var back map[string]any
	_ = json.Unmarshal(data, &back)
	if got := Keys("emails", back); !reflect.DeepEqual(got, []string{"emails:ann@example.com", "emails:ann@work.example"}) {
		t.Errorf("Keys after JSON = %q", got)
	}

	a := schemas["audience_users"]
	for _, req := range []string{"mobileNumber", "Mobile Number", "mobile_number", "MOBILE-NUMBER"} {
		if k, err := a.ResolveKey(req); err != nil || k != "mobile_number" {
			t.Errorf("ResolveKey(%q) = %q, %v", req, k, err)
		}
	}
	for _, req := range []string{"email", "Email", "emailId"} {
		if k, err := a.ResolveKey(req); err != nil || k != "email" {
			t.Errorf("ResolveKey(%q) = %q, %v", req, k, err)
		}
	}
	if _, err := a.ResolveKey("country"); err == nil || !strings.Contains(err.Error(), "allowed: email, mobile_number") {
		t.Errorf("ResolveKey(country) = %v", err)
	}
	if _, err := a.ResolveKey("shoe size"); err == nil {
		t.Error("ResolveKey(shoe size) accepted")
	}

	c := schemas["community_users"]
	hm, _ = c.MapHeader([]string{"Email", "First Name"})
	rec, errs = c.Validate(hm, []string{"ann@example.com", ""}, "email")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var fields []string
	for _, e := range c.CheckCreate(rec) {
		fields = append(fields, e.Field)
	}
	if strings.Join(fields, ",") != "first_name,last_name,username" {
		t.Errorf("CheckCreate fields = %v", fields)
	}
}

// A record of a schema with several key fields is found through any of
// them: its handles are the import key's value first (the _id of a record
// it creates), then the other key fields' that have a value. Schemas with
// one key field, and persons (matched on any handle already), have none.
func TestKeyHandles(t *testing.T) {
	schemas := loadEntities(t)
	rec := map[string]any{"email": "ann@x.io", "phone": "+12015559999", "company": "X"}
	for _, c := range []struct {
		schema, key string
		rec         map[string]any
		want        []string
	}{
		{"contacts", "email", rec, []string{"email:ann@x.io", "phone:+12015559999"}},
		{"contacts", "phone", rec, []string{"phone:+12015559999", "email:ann@x.io"}},
		{"contacts", "phone", map[string]any{"phone": "+12015559999", "email": ""}, []string{"phone:+12015559999"}},
		{"persons", "handles", map[string]any{"emails": []string{"ann@x.io"}}, nil},
	} {
		if got := schemas[c.schema].KeyHandles(c.key, c.rec); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s by %s: KeyHandles = %q, want %q", c.schema, c.key, got, c.want)
		}
	}
	one, err := Parse([]byte(`{"name": "one", "keys": ["email"], "fields": [{"name": "email", "type": "email"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := one.KeyHandles("email", rec); got != nil {
		t.Errorf("one key field: KeyHandles = %q, want none", got)
	}
}
