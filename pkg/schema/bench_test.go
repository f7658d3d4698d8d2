package schema

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"testing"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func contactsSchema(b testing.TB) *Schema {
	b.Helper()
	data, err := os.ReadFile(entitiesDir + "/contacts.json")
	if err != nil {
		b.Fatal(err)
	}
	s, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// contactRows returns n realistic contact rows: every row has a name, an
// email and a company, and a phone number written in one of several ways
// (E.164, international with spaces, US national with punctuation).
func contactRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		var phone string
		switch i % 4 {
		case 0:
			phone = fmt.Sprintf("+1415555%04d", i%10000)
		case 1:
			phone = fmt.Sprintf("(201) 555-%04d", i%10000)
		case 2:
			phone = fmt.Sprintf("+44 20 7946 %04d", i%10000)
		case 3:
			phone = fmt.Sprintf("212-555-%04d", i%10000)
		}
		rows[i] = []string{fmt.Sprintf("Person %d", i), fmt.Sprintf("User.%d@Example.com", i), phone, fmt.Sprintf("Company %d", i%97)}
	}
	return rows
}

// BenchmarkValidateContacts measures rows of the contacts schema (name,
// email, phone, company; a phone on every row). "validate" is validation
// alone (cells already split); "csv+validate" also parses the CSV text.
func BenchmarkValidateContacts(b *testing.B) {
	s := contactsSchema(b)
	header := []string{"name", "email", "phone", "company"}
	hm, err := s.MapHeader(header)
	if err != nil {
		b.Fatal(err)
	}
	rows := contactRows(4096)
	b.Run("validate", benchValidate(s, hm, rows))
	var text bytes.Buffer
	w := csv.NewWriter(&text)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	b.Run("csv+validate", func(b *testing.B) {
		b.ReportAllocs()
		var r *csv.Reader
		for i := 0; b.Loop(); i++ {
			if i%len(rows) == 0 {
				r = csv.NewReader(bytes.NewReader(text.Bytes()))
				r.ReuseRecord = true
				if _, err := r.Read(); err != nil {
					b.Fatal(err)
				}
			}
			cells, err := r.Read()
			if err != nil {
				b.Fatal(err)
			}
			if _, errs := s.Validate(hm, cells, "email"); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	// The same rows with the phone number left out: the cost of everything
	// but phone validation.
	noPhone := make([][]string, len(rows))
	for i, r := range rows {
		noPhone[i] = []string{r[0], r[1], "", r[3]}
	}
	b.Run("validate-no-phone", benchValidate(s, hm, noPhone))
}

// benchValidate validates rows in turn, keyed on email; every one must pass.
func benchValidate(s *Schema, hm HeaderMap, rows [][]string) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, errs := s.Validate(hm, rows[i%len(rows)], "email"); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
}

// BenchmarkPhone compares the fast path with the library's own
// Parse + IsValidNumber + Format, per number.
func BenchmarkPhone(b *testing.B) {
	rows := contactRows(4096)
	b.Run("fast", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok, h := fastPhone(rows[i%len(rows)][2], "US"); !ok || !h {
				b.Fatal(rows[i%len(rows)][2])
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "numbers/s")
	})
	b.Run("library", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := libraryPhone(rows[i%len(rows)][2], "US"); !ok {
				b.Fatal(rows[i%len(rows)][2])
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "numbers/s")
	})
}

// BenchmarkValidateTypes covers the other types on one row.
func BenchmarkValidateTypes(b *testing.B) {
	s := everyTypeSchema(b)
	hm, _ := s.MapHeader([]string{"email", "age", "active", "price", "born", "tags", "meta", "tier"})
	row := []string{"ann@example.com", "42", "yes", "12.50", "2024-03-31", "a,b,c", `{"k": "v"}`, "pro"}
	benchValidate(s, hm, [][]string{row})(b)
}
