package schema

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDateEvidenceDecide(t *testing.T) {
	cases := []struct {
		name      string
		values    []string
		order     string
		basis     string
		ambiguous bool
	}{
		{"day above 12 settles day-month", []string{"03/07/2024", "13/03/2024", "01/02/2024"}, DateDMY, OrderEvidence, false},
		{"second above 12 settles month-day", []string{"03/07/2024", "03/13/2024"}, DateMDY, OrderEvidence, false},
		{"mixed evidence is ambiguous", []string{"13/03/2024", "03/13/2024"}, DateMDY, OrderMixed, true},
		{"no evidence is ambiguous", []string{"03/07/2024", "1/2/2024"}, DateMDY, OrderNoClue, true},
		{"unambiguous forms decide nothing", []string{"2024-03-07", "5 March 2024", "", "31.03.2024", "2024/03/07"}, DateMDY, OrderNoValues, false},
		{"not dates are not evidence", []string{"13/03/24", "13/3", "ab/03/2024", "00/13/2024"}, DateMDY, OrderNoValues, false},
		{"spaces around a value", []string{" 25/12/2024 "}, DateDMY, OrderEvidence, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev DateEvidence
			for i, v := range c.values {
				ev.Add(i+2, v)
			}
			d := ev.Decide()
			if d.Order != c.order || d.Basis != c.basis || d.Ambiguous() != c.ambiguous {
				t.Fatalf("Decide() = %+v (ambiguous %v), want order %s basis %s ambiguous %v", d, d.Ambiguous(), c.order, c.basis, c.ambiguous)
			}
			if msg := ev.AmbiguityMessage("birthday", d); (msg != "") != c.ambiguous {
				t.Fatalf("AmbiguityMessage = %q", msg)
			}
		})
	}
}

func TestDateEvidenceRowsNamedInMixedMessage(t *testing.T) {
	var ev DateEvidence
	ev.Add(2, "03/07/2024")
	ev.Add(3, "13/03/2024")
	ev.Add(4, "03/14/2024")
	msg := ev.AmbiguityMessage("birthday", ev.Decide())
	want := "birthday: the values disagree on the day-month order (row 3 reads day first, row 4 month first); read month first (mm/dd/yyyy), so day-first values such as row 3's fail; give date_format (dmy or mdy) to choose"
	if msg != want {
		t.Fatalf("message\n got %q\nwant %q", msg, want)
	}
}

func dateSchema(t *testing.T, formats string) *Schema {
	t.Helper()
	doc := `{"name":"people","keys":["email"],"fields":[{"name":"email","type":"email"},{"name":"birthday","type":"date"` + formats + `}]}`
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWithDateFormats(t *testing.T) {
	s := dateSchema(t, "")
	hm, err := s.MapHeader([]string{"email", "birthday"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		format, cell, want, err string
	}{
		{"", "03/07/2024", "2024-03-07", ""}, // today's default: month first
		{"dmy", "03/07/2024", "2024-07-03", ""},
		{"dmy", "13/03/2024", "2024-03-13", ""},
		{"dmy", "5 March 2024", "2024-03-05", ""},
		{"dmy", "2024-03-05", "2024-03-05", ""},
		{"dmy", "03/13/2024", "", "birthday"},
		{"mdy", "03/13/2024", "2024-03-13", ""},
		{"ymd", "2024/03/13", "2024-03-13", ""},
		{"ymd", "03/13/2024", "", "birthday"},
		{"02.01.2006", "13.03.2024", "2024-03-13", ""},
		{"DMY", "13/03/2024", "2024-03-13", ""},
	}
	for _, c := range cases {
		t.Run(c.format+" "+c.cell, func(t *testing.T) {
			with := s
			if c.format != "" {
				if with, err = s.WithDateFormats(map[string]string{"birthday": c.format}); err != nil {
					t.Fatal(err)
				}
			}
			rec, errs := with.Validate(hm, []string{"a@x.example", c.cell}, "email")
			if c.err != "" {
				if len(errs) != 1 || errs[0].Field != c.err {
					t.Fatalf("errors %+v, want one for %s", errs, c.err)
				}
				return
			}
			if len(errs) > 0 || rec["birthday"] != c.want {
				t.Fatalf("birthday = %v (errors %+v), want %s", rec["birthday"], errs, c.want)
			}
		})
	}
	// The original is unchanged.
	if rec, _ := s.Validate(hm, []string{"a@x.example", "03/07/2024"}, "email"); rec["birthday"] != "2024-03-07" {
		t.Fatalf("WithDateFormats changed its schema: %v", rec["birthday"])
	}
	if _, err := s.WithDateFormats(map[string]string{"birthday": "dd/mm"}); err == nil {
		t.Error("WithDateFormats accepted a format that is none")
	}
	// A replay with today's schema: a field no longer a date is passed over.
	if with, err := s.WithDateFormats(map[string]string{"email": "dmy", "gone": "dmy"}); err != nil {
		t.Errorf("formats of fields that are no date fields: %v", err)
	} else if rec, errs := with.Validate(hm, []string{"a@x.example", "03/07/2024"}, "email"); len(errs) > 0 || rec["birthday"] != "2024-03-07" {
		t.Errorf("birthday = %v %v, want its own formats", rec["birthday"], errs)
	}
	if err := CheckDateFormat("yyyy-mm-dd"); err == nil {
		t.Error("CheckDateFormat accepted a layout without Go's reference date")
	}
}

func TestInfersDateOrder(t *testing.T) {
	if f, _ := dateSchema(t, "").Field("birthday"); !f.InfersDateOrder() {
		t.Error("a date field without formats should be left to its values")
	}
	if f, _ := dateSchema(t, `,"formats":["eu"]`).Field("birthday"); f.InfersDateOrder() {
		t.Error("a date field with formats of its own has an explicit order")
	}
}

func TestStoredDates(t *testing.T) {
	s := dateSchema(t, "")
	day := time.Date(2024, 3, 13, 0, 0, 0, 0, time.UTC)
	forms := map[string]any{
		"travelling string":       "2024-03-13",
		"time":                    time.Date(2024, 3, 13, 0, 0, 0, 0, time.UTC),
		"embedded reader (ms)":    json.Number("1710288000000"),
		"relaxed extended JSON":   map[string]any{"$date": "2024-03-13T00:00:00Z"},
		"canonical extended JSON": map[string]any{"$date": map[string]any{"$numberLong": "1710288000000"}},
		"driver DateTime":         msDate(1710288000000),
	}
	for name, v := range forms {
		in := map[string]any{"email": "a@x.example", "birthday": v}
		out := s.StoredDates(in)
		if got, ok := out["birthday"].(time.Time); !ok || !got.Equal(day) || got.Location() != time.UTC {
			t.Errorf("%s: %#v became %#v, want %v", name, v, out["birthday"], day)
		}
		if out["email"] != "a@x.example" {
			t.Errorf("%s: other fields changed: %v", name, out)
		}
		if !Equal(out["birthday"], s.StoredDates(map[string]any{"birthday": "2024-03-13"})["birthday"]) {
			t.Errorf("%s: not Equal to the travelling string's date", name)
		}
	}
	if out := s.StoredDates(map[string]any{"birthday": "not a date"}); out["birthday"] != "not a date" {
		t.Errorf("a value that is no date changed: %v", out)
	}
	in := map[string]any{"birthday": "2024-03-13"}
	s.StoredDates(in)
	if in["birthday"] != "2024-03-13" {
		t.Error("StoredDates modified its input")
	}
}

// msDate stands for the driver's bson.DateTime: Unix milliseconds with a Time method.
type msDate int64

func (d msDate) Time() time.Time { return time.UnixMilli(int64(d)).UTC() }
