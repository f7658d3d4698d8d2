package mapping

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/schema/schematest"
)

func builtin(tb testing.TB, name string) *schema.Schema {
	tb.Helper()
	return schematest.Load(tb, os.DirFS(filepath.Join("..", "..", "schemas", "entities")), name+".json")
}

func fixture(t *testing.T, name string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return all[0], all[1:]
}

// planFor is the plan Decide makes, with no given mapping, for the header
// of the testdata file name under s, and the file's rows.
func planFor(t *testing.T, s *schema.Schema, name string) (*Plan, [][]string) {
	t.Helper()
	header, rows := fixture(t, name)
	p, err := Decide(s, header, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, rows
}

// mapped is a plan's rows as field -> cell.
func mapped(p *Plan, rows [][]string) []map[string]string {
	var out []map[string]string
	for _, r := range rows {
		m := map[string]string{}
		for i, v := range p.Row(r) {
			if v != "" {
				m[p.Header()[i]] = v
			}
		}
		out = append(out, m)
	}
	return out
}

// Each known export, written from its documentation, imports into the
// default contacts schema the way its user means it: a name composed of
// first, middle and last name, the first non-empty email and phone in the
// documented order, the company.
func TestKnownExportsIntoContacts(t *testing.T) {
	contacts := builtin(t, "contacts")
	ann := map[string]string{"name": "Ann Smith", "email": "ann@work.example", "phone": "+1 415 555 2671", "company": "Example Corp"}
	for _, tc := range []struct {
		file, export string
		want         []map[string]string
	}{
		{"google_contacts.csv", "Google Contacts", []map[string]string{
			// E-mail 1 holds two values: the first is the primary one.
			{"name": "Ann B Smith", "email": "ann@home.example", "phone": "+1 415 555 2671", "company": "Example Corp"},
			{"name": "Bob Jones", "email": "bob@work.example", "phone": "+1 212 555 0100"},
		}},
		{"google_contacts_old.csv", "Google Contacts (older export)", []map[string]string{
			{"name": "Ann Smith", "email": "ann@home.example", "phone": "+1 415 555 2671", "company": "Example Corp"},
		}},
		{"outlook.csv", "Outlook", []map[string]string{
			ann,
			// Only a business phone: it is the phone.
			{"name": "Bob Jones", "phone": "+1 212 555 0199", "company": "Other Inc"},
		}},
		{"hubspot.csv", "HubSpot", []map[string]string{ann}},
		{"salesforce_dataloader.csv", "Salesforce (Data Loader)", []map[string]string{
			{"name": "Ann Smith", "email": "ann@work.example", "phone": "+1 415 555 2671"},
		}},
		{"salesforce_report.csv", "Salesforce (report export)", []map[string]string{ann}},
		{"mailchimp.csv", "Mailchimp", []map[string]string{ann}},
		{"linkedin_connections.csv", "LinkedIn Connections", []map[string]string{
			{"name": "Ann Smith", "email": "ann@work.example", "company": "Example Corp"},
		}},
	} {
		t.Run(tc.export, func(t *testing.T) {
			header, rows := fixture(t, tc.file)
			p, err := Decide(contacts, header, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := p.Report(); r.Export != tc.export {
				t.Errorf("export = %q, want %q", r.Export, tc.export)
			}
			if got := mapped(p, rows); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows\n got %v\nwant %v", got, tc.want)
			}
			r := p.Report()
			if len(r.Columns) != len(header) {
				t.Fatalf("report has %d columns, the file %d", len(r.Columns), len(header))
			}
			for _, c := range r.Columns {
				if c.Field == "" && !slices.Contains(r.Ignored, c.Column) && strings.TrimSpace(c.Column) != "" {
					t.Errorf("column %q neither mapped nor listed ignored", c.Column)
				}
				if c.Field != "" && c.Reason == ReasonIgnored {
					t.Errorf("column %q mapped to %s with reason ignored", c.Column, c.Field)
				}
			}
		})
	}
}

// A schema with its own first and last name fields gets them directly, not
// composed; its name field stays empty.
func TestExportIntoSchemaWithNameParts(t *testing.T) {
	customers := builtin(t, "customers")
	p, rows := planFor(t, customers, "outlook.csv")
	got := mapped(p, rows)[0]
	if got["first_name"] != "Ann" || got["last_name"] != "Smith" || got["name"] != "" || got["job_title"] != "CTO" || got["email"] != "ann@work.example" {
		t.Errorf("row = %v", got)
	}
}

func TestGivenMapping(t *testing.T) {
	contacts := builtin(t, "contacts")
	field := func(s string) *string { return &s }
	header := []string{"Contact", "Mail 1", "Telephone", "Notes"}
	p, err := Decide(contacts, header, Given{"Mail 1": field("email"), "Telephone": nil})
	if err != nil {
		t.Fatal(err)
	}
	got := mapped(p, [][]string{{"Ann", "ann@x.example", "555", "n"}})[0]
	if !reflect.DeepEqual(got, map[string]string{"name": "Ann", "email": "ann@x.example"}) {
		t.Errorf("row = %v", got)
	}
	want := []Column{
		{Column: "Contact", Field: "name", Reason: ReasonAlias},
		{Column: "Mail 1", Field: "email", Reason: ReasonGiven},
		{Column: "Telephone", Reason: ReasonIgnored, Note: "ignored by the mapping"},
		{Column: "Notes", Reason: ReasonIgnored},
	}
	if r := p.Report(); !reflect.DeepEqual(r.Columns, want) || !reflect.DeepEqual(r.Ignored, []string{"Telephone", "Notes"}) {
		t.Errorf("report = %+v", r)
	}

	for _, tc := range []struct {
		given Given
		want  string
	}{
		{Given{"Nope": field("email")}, `the file has no column "Nope"`},
		{Given{"Mail 1": field("fax")}, `schema contacts has no field "fax"`},
	} {
		if _, err := Decide(contacts, header, tc.given); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decide(%v) = %v, want %q", tc.given, err, tc.want)
		}
	}
}

// Two columns the schema's own names map to one field are an error that
// says how to choose, as without a mapping; the mapping resolves it.
func TestTwoColumnsForOneField(t *testing.T) {
	contacts := builtin(t, "contacts")
	header := []string{"Email", "E-mail Address"}
	_, err := Decide(contacts, header, nil)
	if err == nil || !strings.Contains(err.Error(), "both map to field email") || !strings.Contains(err.Error(), "mapping") {
		t.Fatalf("err = %v", err)
	}
	p, err := Decide(contacts, header, Given{"E-mail Address": nil})
	if err != nil || !reflect.DeepEqual(p.Header(), []string{"email"}) {
		t.Fatalf("with the mapping: %v %v", p, err)
	}
}

// A list field takes every value of every column an export gives it.
func TestExportIntoListField(t *testing.T) {
	persons := builtin(t, "persons")
	p, rows := planFor(t, persons, "google_contacts.csv")
	if got := mapped(p, rows)[0]; got["emails"] != "ann@home.example,ann@other.example,ann@work.example" {
		t.Errorf("emails = %q (row %v)", got["emails"], got)
	}
}

// Missing names the fields every row needs that no column provides.
func TestMissing(t *testing.T) {
	audience := builtin(t, "audience_users")
	p, _ := planFor(t, audience, "linkedin_connections.csv")
	if got := p.Missing(audience, "email"); !reflect.DeepEqual(got, []string{"country", "state"}) {
		t.Errorf("missing = %v, want country and state (last_active_date has a default)", got)
	}
}

func FuzzDecide(f *testing.F) {
	s := builtin(f, "contacts")
	f.Add("First Name,Last Name,E-mail Address,Business Phone,Mobile Phone", "Ann,Smith,a@x.example,1, ::: 2")
	f.Fuzz(func(t *testing.T, header, row string) {
		h := strings.Split(header, ",")
		p, err := Decide(s, h, nil)
		if err != nil {
			return
		}
		if out := p.Row(strings.Split(row, ",")); len(out) != len(p.Header()) {
			t.Fatalf("row of %d cells for a header of %d", len(out), len(p.Header()))
		}
	})
}

// Apple Contacts exports vCards (3.0, properties grouped as item1.EMAIL
// with Apple's X-AB labels); the vCard reader gives them columns the
// contacts schema takes as they are: the preferred email and phone first.
func TestAppleContactsIntoContacts(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "apple_contacts.vcf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, cleanup, err := filereader.Open(f, filereader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cleanup() }()
	var rows [][]string
	for {
		row, err := rd.Next()
		if err != nil {
			break
		}
		if row.Err != nil {
			t.Fatalf("card %d: %v", row.Number, row.Err)
		}
		rows = append(rows, row.Cells)
	}
	p, err := Decide(builtin(t, "contacts"), rd.Header(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"name": "Ann B Smith", "email": "ann@work.example", "phone": "+1 415 555 2671", "company": "Example Corp"},
		{"name": "Bob Jones", "phone": "+1 212 555 0199"},
	}
	if got := mapped(p, rows); !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n got %v\nwant %v", got, want)
	}
}
