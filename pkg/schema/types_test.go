package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// one validates a single cell of a one-field schema.
func one(t *testing.T, field string, cell string) (any, []string) {
	t.Helper()
	var f Field
	if err := json.Unmarshal([]byte(field), &f); err != nil {
		t.Fatal(err)
	}
	s, err := Parse([]byte(`{"name": "t", "fields": [` + field + `, {"name": "k0", "type": "string"}], "keys": ["k0"]}`))
	if err != nil {
		t.Fatalf("schema with %s: %v", field, err)
	}
	hm, err := s.MapHeader([]string{f.Name})
	if err != nil {
		t.Fatal(err)
	}
	rec, errs := s.Validate(hm, []string{cell}, "")
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Message)
	}
	return rec[f.Name], msgs
}

type typeCase struct {
	in   string
	want any    // when valid
	msg  string // when invalid
}

func runTypeCases(t *testing.T, field string, cases []typeCase) {
	t.Helper()
	for _, c := range cases {
		got, msgs := one(t, field, c.in)
		if c.msg != "" {
			if len(msgs) != 1 || msgs[0] != c.msg {
				t.Errorf("%s %q: got %#v, %q; want error %q", field, c.in, got, msgs, c.msg)
			}
			continue
		}
		if len(msgs) > 0 || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: got %#v (%T), %q; want %#v (%T)", field, c.in, got, got, msgs, c.want, c.want)
		}
	}
}

func TestDate(t *testing.T) {
	runTypeCases(t, `{"name": "x", "type": "date"}`, []typeCase{
		{"2024-03-31", "2024-03-31", ""},
		{"2024-3-1", "2024-03-01", ""},
		{"2024-03-31 00:00:00", "2024-03-31", ""},
		{"03/31/2024", "2024-03-31", ""},
		{"3/1/2024", "2024-03-01", ""},
		{"31.03.2024", "2024-03-31", ""},
		{"2024/03/31", "2024-03-31", ""},
		{"Mar 31 2024", "2024-03-31", ""},
		{"March 31, 2024", "2024-03-31", ""},
		{"31 Mar 2024", "2024-03-31", ""},
		{"2024-03-31T23:30:00-05:00", "2024-03-31", ""}, // the date as written
		{"2024-02-29", "2024-02-29", ""},
		{"2023-02-29", nil, "x: '2023-02-29' is not a date (expected e.g. 2024-03-31)"},
		{"31/31/2020", nil, "x: '31/31/2020' is not a date (expected e.g. 2024-03-31)"},
		{"31/03/2024", nil, "x: '31/03/2024' is not a date (expected e.g. 2024-03-31)"},
		{"yesterday", nil, "x: 'yesterday' is not a date (expected e.g. 2024-03-31)"},
		{"2024-13-01", nil, "x: '2024-13-01' is not a date (expected e.g. 2024-03-31)"},
	})
	runTypeCases(t, `{"name": "x", "type": "date", "formats": ["eu", "02-01-2006"]}`, []typeCase{
		{"31/03/2024", "2024-03-31", ""},
		{"31-03-2024", "2024-03-31", ""},
		{"2024-03-31", nil, "x: '2024-03-31' is not a date (expected e.g. 31/03/2024)"},
	})
}

func TestBool(t *testing.T) {
	field := `{"name": "x", "type": "bool"}`
	var cases []typeCase
	for _, s := range []string{"true", "TRUE", "Yes", "y", "Y", "1"} {
		cases = append(cases, typeCase{s, true, ""})
	}
	for _, s := range []string{"false", "No", "N", "n", "0"} {
		cases = append(cases, typeCase{s, false, ""})
	}
	cases = append(cases, typeCase{"maybe", nil, "x: 'maybe' is not true or false (use true/false, yes/no, y/n or 1/0)"})
	runTypeCases(t, field, cases)
}

func TestInt(t *testing.T) {
	runTypeCases(t, `{"name": "x", "type": "int"}`, []typeCase{
		{"42", int64(42), ""},
		{"-7", int64(-7), ""},
		{"+7", int64(7), ""},
		{"007", int64(7), ""},
		{"12.0", int64(12), ""},
		{"9223372036854775807", int64(9223372036854775807), ""},
		{"1.5", nil, "x: '1.5' is not a whole number"},
		{"1,234", nil, "x: '1,234' is not a whole number: write it without thousands separators (1234)"},
		{"1 234 567", nil, "x: '1 234 567' is not a whole number: write it without thousands separators (1234567)"},
		{"1e3", nil, "x: '1e3' is not a whole number"},
		{"abc", nil, "x: 'abc' is not a whole number"},
		{"99999999999999999999", nil, "x: '99999999999999999999' is too large for a whole number (at most 19 digits)"},
	})
	_, msgs := one(t, `{"name": "age", "type": "int"}`, "1.5")
	if len(msgs) != 1 || msgs[0] != "age: '1.5' is not a whole number" {
		t.Errorf("age 1.5: %q", msgs)
	}
}

func TestDecimal(t *testing.T) {
	bad := "is not a decimal number (write it like 1234.50: a point for decimals, no thousands separators)"
	runTypeCases(t, `{"name": "x", "type": "decimal"}`, []typeCase{
		{"12.50", "12.50", ""},
		{"12.5", "12.5", ""},
		{"+012.50", "12.50", ""},
		{"-0.5", "-0.5", ""},
		{".5", "0.5", ""},
		{"5.", "5", ""},
		{"-0.00", "0.00", ""},
		{"1e3", "1000", ""},
		{"1.5E-3", "0.0015", ""},
		{"2.50e1", "25.0", ""},
		{"12,50", nil, "x: '12,50' " + bad},
		{"1,234.50", nil, "x: '1,234.50' " + bad},
		{"$12", nil, "x: '$12' " + bad},
		{"NaN", nil, "x: 'NaN' " + bad},
		{"1e500", nil, "x: '1e500' has more than 100 digits"},
	})
	runTypeCases(t, `{"name": "x", "type": "decimal", "scale": 2}`, []typeCase{
		{"12.5", "12.50", ""},
		{"12", "12.00", ""},
		{"12.500", "12.50", ""},
		{"12.505", nil, "x: '12.505' has more than 2 decimal places"},
	})
}

func TestList(t *testing.T) {
	runTypeCases(t, `{"name": "x", "type": "list"}`, []typeCase{
		{"a, b ,,c, a", []string{"a", "b", "c"}, ""},
		{" a ", []string{"a"}, ""},
	})
	// Only separators: as if empty (not stored).
	if got, msgs := one(t, `{"name": "x", "type": "list"}`, " , ,"); got != nil || len(msgs) > 0 {
		t.Errorf("separators only: %#v %q", got, msgs)
	}
	runTypeCases(t, `{"name": "x", "type": "list", "separator": ";", "item_type": "email"}`, []typeCase{
		{"Ann@Example.com; bob@example.com", []string{"ann@example.com", "bob@example.com"}, ""},
		{"ann@example.com, bob@example.com", nil, "x: 'ann@example.com, bob@example.com' is not a valid email address"},
	})
	_, msgs := one(t, `{"name": "x", "type": "list", "item_type": "email"}`, "bob@, ann@example.com, carl")
	if strings.Join(msgs, "|") != "x: 'bob@' is not a valid email address|x: 'carl' is not a valid email address" {
		t.Errorf("every bad item is reported: %q", msgs)
	}
	runTypeCases(t, `{"name": "x", "type": "list", "item_type": "phone", "region": "GB"}`, []typeCase{
		{"020 7946 0958, +1 415 555 2671", []string{"+442079460958", "+14155552671"}, ""},
	})
	runTypeCases(t, `{"name": "x", "type": "list", "item_type": "enum", "values": ["Admin", "Editor"], "max_items": 2}`, []typeCase{
		{"admin,EDITOR", []string{"Admin", "Editor"}, ""},
		{"admin,owner", nil, "x: 'owner' is not one of Admin, Editor"},
	})
	_, msgs = one(t, `{"name": "x", "type": "list", "max_items": 2}`, "a,b,c")
	if len(msgs) != 1 || msgs[0] != "x: 'a,b,c' has 3 items, at most 2 allowed" {
		t.Errorf("max_items: %q", msgs)
	}
	runTypeCases(t, `{"name": "x", "type": "list", "max_length": 3, "pattern": "^[a-z]+$", "example": "abc"}`, []typeCase{
		{"abcd", nil, "x: 'abcd' is longer than 3 characters"},
		{"ab1", nil, "x: 'ab1' does not have the expected form (e.g. abc)"},
	})
}

func TestJSON(t *testing.T) {
	runTypeCases(t, `{"name": "x", "type": "json"}`, []typeCase{
		{`{"a": 1, "b": [true, null, "s"], "c": {"d": 1.5}}`, map[string]any{"a": float64(1), "b": []any{true, nil, "s"}, "c": map[string]any{"d": 1.5}}, ""},
		{`{}`, map[string]any{}, ""},
		{`[1, 2]`, nil, `x: '[1, 2]' is not a JSON object (expected e.g. {"key": "value"})`},
		{`"s"`, nil, `x: '"s"' is not a JSON object (expected e.g. {"key": "value"})`},
		{`{"a": 1`, nil, `x: '{"a": 1' is not valid JSON: it ends too early (a missing } or "?)`},
		{`{"a": 1} x`, nil, `x: '{"a": 1} x' is not valid JSON: unexpected text after the object`},
		{`{a: 1}`, nil, `x: '{a: 1}' is not valid JSON: invalid character 'a' looking for beginning of object key string (at character 2)`},
		{`{"a": 12345678901234567890}`, nil, `x: number 12345678901234567890 cannot be stored exactly; write it as a string ("12345678901234567890")`},
		{`{"a.b": 1}`, nil, `x: key 'a.b' is not allowed (keys may not be empty, start with $ or contain a dot)`},
		{`{"$where": 1}`, nil, `x: key '$where' is not allowed (keys may not be empty, start with $ or contain a dot)`},
	})
	deep := strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33)
	ok := strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32)
	runTypeCases(t, `{"name": "x", "type": "json"}`, []typeCase{
		{deep, nil, "x: the JSON is nested deeper than 32 levels"},
	})
	if _, msgs := one(t, `{"name": "x", "type": "json"}`, ok); len(msgs) > 0 {
		t.Errorf("32 levels: %q", msgs)
	}
	// A string holding brackets does not count as nesting.
	if _, msgs := one(t, `{"name": "x", "type": "json"}`, `{"a": "`+strings.Repeat("[{", 40)+`\""}`); len(msgs) > 0 {
		t.Errorf("brackets in a string: %q", msgs)
	}
	big := `{"a": "` + strings.Repeat("x", MaxCellBytes) + `"}`
	if _, msgs := one(t, `{"name": "x", "type": "json"}`, big); len(msgs) != 1 || msgs[0] != "x: the value is 65545 bytes long; a cell may hold at most 65536" {
		t.Errorf("too large: %q", msgs)
	}
	runTypeCases(t, `{"name": "x", "type": "json", "object_values": true}`, []typeCase{
		{`{"end_user_read_only": {"name": "John"}}`, map[string]any{"end_user_read_only": map[string]any{"name": "John"}}, ""},
		{`{"end_user_read_only": "John"}`, nil, `x: 'end_user_read_only' must map to an object of key/value pairs, not a string`},
	})
}

func TestStringOptions(t *testing.T) {
	runTypeCases(t, `{"name": "code", "type": "string", "min_length": 3, "max_length": 5, "pattern": "^[A-Z]+$"}`, []typeCase{
		{"ABC", "ABC", ""},
		{"AB", nil, "code: 'AB' is shorter than 3 characters"},
		{"ABCDEF", nil, "code: 'ABCDEF' is longer than 5 characters"},
		{"abc", nil, "code: 'abc' does not have the expected form (pattern ^[A-Z]+$)"},
	})
	runTypeCases(t, `{"name": "tier", "type": "enum", "values": ["Bronze", "Silver", "Gold"]}`, []typeCase{
		{"gold", "Gold", ""},
		{"GOLD ", "Gold", ""},
		{"platinum", nil, "tier: 'platinum' is not one of Bronze, Silver, Gold"},
	})
	runTypeCases(t, `{"name": "email", "type": "email"}`, []typeCase{
		{"Ann.Smith+tag@Example.COM", "ann.smith+tag@example.com", ""},
		{"bob@", nil, "email: 'bob@' is not a valid email address"},
		{"bob@example", nil, "email: 'bob@example' is not a valid email address"},
		{"Bob <bob@example.com>", nil, "email: 'Bob <bob@example.com>' is not a valid email address"},
		{"a..b@example.com", nil, "email: 'a..b@example.com' is not a valid email address"},
		{"josé@exämple.com", "josé@exämple.com", ""},
	})
}

// The fast email path accepts exactly what net/mail (plus our domain rule)
// accepts.
func TestSimpleEmailIsSubset(t *testing.T) {
	inputs := []string{"a@b.co", "a.b@c.d.e", "a+b@c.io", "x@y", ".a@b.co", "a.@b.co", "a@b..co", "a@.b.co", "a@b.co.",
		"a b@c.co", "\"a\"@b.co", "a@[1.2.3.4]", "a@b.co ", "{}@x.yz", "a@b-.co", "a@-b.co", "a@b_c.co", "a!#$%&'*+-/=?^_`{|}~@b.co", "@b.co", "a@"}
	for _, in := range inputs {
		if !simpleEmail(in) {
			continue
		}
		got, ok := normalizeEmail(in)
		want, wantOK := netMailEmail(in)
		if ok != wantOK || got != want {
			t.Errorf("%q: fast %q %v, net/mail %q %v", in, got, ok, want, wantOK)
		}
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"name": "t", "keys": ["email"], "fields": [
		{"name": "email", "type": "email"},
		{"name": "seen", "type": "date", "required": true, "default": "today"},
		{"name": "tier", "type": "enum", "values": ["free", "pro"], "default": "free"},
		{"name": "active", "type": "bool", "default": true},
		{"name": "score", "type": "int", "default": 10},
		{"name": "tags", "type": "list", "default": ["a", "b"]},
		{"name": "meta", "type": "json", "default": {"k": "v"}},
		{"name": "word", "type": "string", "default": "today"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return time.Date(2025, 6, 1, 23, 59, 0, 0, time.UTC) })
	hm, _ := s.MapHeader([]string{"email", "seen", "tier"})
	rec, errs := s.Validate(hm, []string{"a@b.co", "", ""}, "email")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]any{"email": "a@b.co", "seen": "2025-06-01", "tier": "free", "active": true, "score": int64(10),
		"tags": []string{"a", "b"}, "meta": map[string]any{"k": "v"}, "word": "today"}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("defaults:\n got %#v\nwant %#v", rec, want)
	}
	// Defaults are copies: changing one record does not change the next.
	rec["tags"].([]string)[0] = "changed"
	rec["meta"].(map[string]any)["k"] = "changed"
	rec2, _ := s.Validate(hm, []string{"a@b.co", "", ""}, "email")
	if !reflect.DeepEqual(rec2["tags"], []string{"a", "b"}) || !reflect.DeepEqual(rec2["meta"], map[string]any{"k": "v"}) {
		t.Errorf("default shared between records: %#v %#v", rec2["tags"], rec2["meta"])
	}
	// A given value wins.
	rec, _ = s.Validate(hm, []string{"a@b.co", "2024-01-02", "PRO"}, "email")
	if rec["seen"] != "2024-01-02" || rec["tier"] != "pro" {
		t.Errorf("given values: %#v", rec)
	}
	// Without a clock: today in UTC, as yyyy-mm-dd.
	s.SetClock(nil)
	rec, _ = s.Validate(hm, []string{"a@b.co", "", ""}, "email")
	if d, _ := rec["seen"].(string); len(d) != 10 {
		t.Errorf("today = %q", d)
	}
}

func TestSchemaErrors(t *testing.T) {
	bad := map[string]string{
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string", "requried": true}]}`:                                              "unknown field",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string", "pattern": "("}]}`:                                                "pattern",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "int", "pattern": "x"}]}`:                                                   "min_length and pattern apply",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string", "separator": ";"}]}`:                                              "list fields only",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "list", "item_type": "int"}]}`:                                              "item_type",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "date", "formats": ["yyyy"]}]}`:                                             "date format",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "date", "default": "tomorrow"}]}`:                                           "default",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "int", "example": "1.5"}]}`:                                                 "example",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "phone", "region": "XX"}]}`:                                                 "region",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "json"}]}`:                                                                  "json field",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string", "min_length": 5, "max_length": 2}]}`:                              "min_length",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "enum", "values": ["x", "X"]}]}`:                                            "twice",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string", "column": "c"}, {"name": "b", "type": "string", "column": "c"}]}`: "column",
		`{"name": "t", "keys": ["a"], "fields": [{"name": "a", "type": "string", "aliases": ["B"]}, {"name": "b", "type": "string"}]}`:             "matches both",
	}
	for doc, want := range bad {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", doc, err, want)
		}
	}
}

func TestHeaders(t *testing.T) {
	s, err := Parse([]byte(`{"name": "t", "keys": ["emails"], "unknown_headers": "error", "fields": [
		{"name": "emails", "type": "list", "item_type": "email", "column": "slashid:emails"},
		{"name": "slashid_emails_note", "type": "string", "column": "slashid-emails"},
		{"name": "name", "type": "string", "aliases": ["Full Name"]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Exact columns win; the two columns normalise alike, so only exact
	// matches reach them; the field names still work.
	hm, err := s.MapHeader([]string{"slashid:emails", "slashid-emails", "\ufeffFULL_NAME"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Columns(hm); !reflect.DeepEqual(got, []string{"emails", "slashid_emails_note", "name"}) {
		t.Errorf("columns = %q", got)
	}
	if _, err := s.MapHeader([]string{"SLASHID EMAILS"}); err == nil || !strings.Contains(err.Error(), "unknown columns") {
		t.Errorf("ambiguous normalised column: %v", err)
	}
	if _, err := s.MapHeader([]string{"emails", "slashid:emails"}); err == nil || !strings.Contains(err.Error(), "both map to field emails") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.MapHeader([]string{"emails", "shoe size"}); err == nil || !strings.Contains(err.Error(), "unknown columns for schema t: shoe size") {
		t.Errorf("unknown policy error: %v", err)
	}
	if f, ok := s.FieldFor("Full-Name"); !ok || f.Name != "name" {
		t.Errorf("FieldFor = %v %v", f, ok)
	}
	if got := s.Headers(); !reflect.DeepEqual(got, []string{"slashid:emails", "slashid-emails", "name"}) {
		t.Errorf("Headers = %q", got)
	}
	if got := s.FieldNames(); !reflect.DeepEqual(got, []string{"emails", "slashid_emails_note", "name"}) {
		t.Errorf("FieldNames = %q", got)
	}
}

// Every failure of a row is reported, in a stable order.
func TestAllErrorsReported(t *testing.T) {
	s, err := Parse([]byte(`{"name": "t", "keys": ["email"], "at_least_one_of": [["email", "phone"]], "fields": [
		{"name": "email", "type": "email"},
		{"name": "phone", "type": "phone"},
		{"name": "age", "type": "int"},
		{"name": "signup_date", "type": "date"},
		{"name": "name", "type": "string", "required": true}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	hm, _ := s.MapHeader([]string{"age", "signup_date", "email"})
	_, errs := s.Validate(hm, []string{"1.5", "31/31/2020", ""}, "email")
	got, _ := json.Marshal(errs)
	want := `[{"field":"age","message":"age: '1.5' is not a whole number"},` +
		`{"field":"signup_date","message":"signup_date: '31/31/2020' is not a date (expected e.g. 2024-03-31)"},` +
		`{"field":"email","message":"email: required as the reconciliation key of this import"},` +
		`{"field":"name","message":"name: required"},` +
		`{"field":"email","message":"at least one of email, phone is required"}]`
	if string(got) != want {
		t.Errorf("errors\n got %s\nwant %s", got, want)
	}
	_, errs = s.Validate(hm, []string{"1"}, "email")
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "row has 1 cells but the header has 3 columns") {
		t.Errorf("short row: %v", errs)
	}
}

// The reasons column of a failed-rows file is ignored even by a schema that
// refuses unknown columns, so the file can be uploaded again as it is.
func TestMapHeaderIgnoresReasonsColumn(t *testing.T) {
	s, err := Parse([]byte(`{"name": "t", "keys": ["email"], "unknown_headers": "error", "fields": [
		{"name": "email", "type": "email"}, {"name": "name", "type": "string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	hm, err := s.MapHeader([]string{"email", "name", ReasonsColumn})
	if err != nil {
		t.Fatalf("MapHeader with the reasons column: %v", err)
	}
	if got := s.Columns(hm); len(got) != 3 || got[0] != "email" || got[1] != "name" || got[2] != "" {
		t.Fatalf("columns = %q, want email, name and the reasons column ignored", got)
	}
	if _, err := s.MapHeader([]string{"email", "other"}); err == nil {
		t.Fatal("an unknown column other than the reasons column was accepted")
	}
}
