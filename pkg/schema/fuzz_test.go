package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzValidate feeds arbitrary cells to every entity schema. The validator
// must never panic, must report problems with a field and message, and what
// it accepts must survive the JSON trip between services unchanged.
func FuzzValidate(f *testing.F) {
	_, schemas := parseEntities(f)
	f.Add("Ann", "ann@example.com", "+1 201 555 0123", "2024-03-31")
	f.Add("", "bob@", "555-1234", "31/31/2020")
	f.Add("x", `{"a":{"b":[1,2,{"c":null}]}}`, "a, b, ,c", "true")
	f.Add("=HYPERLINK(\"x\")", "1e999", "-0", "\x00\xff")
	f.Add(strings.Repeat("u,", 101), strings.Repeat("a@b.co,", 101), strings.Repeat("+14155552671,", 101), strings.Repeat("x", 70000)) // over the bounds
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		for _, s := range schemas {
			header := s.Headers()
			cells := make([]string, len(header))
			for i := range cells {
				cells[i] = []string{a, b, c, d}[i%4]
			}
			hm, err := s.MapHeader(header)
			if err != nil {
				t.Fatalf("%s: own header rejected: %v", s.Name, err)
			}
			rec, errs := s.Validate(hm, cells, s.Keys[0])
			for _, e := range errs {
				if strings.TrimSpace(e.Message) == "" {
					t.Fatalf("%s: problem without a message: %+v", s.Name, e)
				}
			}
			if len(errs) > 0 {
				continue
			}
			raw, err := json.Marshal(rec)
			if err != nil {
				t.Fatalf("%s: accepted record does not encode: %v", s.Name, err)
			}
			var back map[string]any
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			back = s.Restore(back)
			for k, v := range rec {
				if !Equal(v, back[k]) {
					t.Fatalf("%s.%s changed over JSON: %#v -> %#v", s.Name, k, v, back[k])
				}
			}
		}
	})
}
