package schema

import (
	"fmt"
	"strings"
)

// Date orders an import may give (date_format) or inference may resolve a
// date field to. Anything else given as a date_format is a Go layout.
const (
	DateDMY = "dmy" // 13/03/2024: day first
	DateMDY = "mdy" // 03/13/2024: month first (what a date field reads without evidence)
	DateYMD = "ymd" // 2024/03/13, 2024-03-13
)

// dateOrderFormats are the named formats each order accepts. The text,
// ISO and RFC 3339 forms are unambiguous and stay accepted in every order.
var dateOrderFormats = map[string][]string{
	DateDMY: {"iso", "eu", "dot", "text", "rfc3339"},
	DateMDY: {"iso", "us", "dot", "ymd_slash", "text", "rfc3339"}, // defaultDateFormats
	DateYMD: {"iso", "ymd_slash", "text", "rfc3339"},
}

// CheckDateFormat reports whether a date_format is an order (dmy, mdy,
// ymd) or a Go layout with a year, a month and a day.
func CheckDateFormat(format string) error {
	_, err := dateFormatsOf(format)
	return err
}

func dateFormatsOf(format string) ([]dateFormat, error) {
	names, ok := dateOrderFormats[strings.ToLower(format)]
	if !ok {
		names = []string{format}
	}
	dfs, _, err := compileDateFormats(names)
	if err != nil {
		return nil, fmt.Errorf("date_format %q is neither dmy, mdy, ymd nor a Go layout with year, month and day (e.g. 02/01/2006)", format)
	}
	return dfs, nil
}

// InfersDateOrder reports whether a field's day-month order is left to the
// values: a date field that lists no formats of its own (its formats are
// its explicit date_format).
func (f *Field) InfersDateOrder() bool { return f.Type == TypeDate && len(f.Formats) == 0 }

// WithDateFormats returns a copy of s whose named date fields accept the
// given date_format (an order or a Go layout) instead of their own
// formats; s is unchanged. An import resolves its date fields once
// (envelope.Options.DateFormats) and every chunk validates with this. A
// name that is not (or no longer) a date field of s is passed over: a
// replay validates with today's schema, which may have dropped the field.
func (s *Schema) WithDateFormats(formats map[string]string) (*Schema, error) {
	if len(formats) == 0 {
		return s, nil
	}
	c := *s
	c.Fields = append([]Field(nil), s.Fields...)
	for name, format := range formats {
		dfs, err := dateFormatsOf(format)
		if err != nil {
			return nil, err
		}
		i, ok := s.byName[name]
		if !ok || s.Fields[i].Type != TypeDate {
			continue
		}
		f := &c.Fields[i]
		cc := *f.c
		cc.dates, cc.dateHint = dfs, dfs[0].display
		if len(dfs) > 1 && dfs[0].iso {
			cc.dateHint = dfs[1].display // the order's own form is the useful example
		}
		f.c = &cc
	}
	return &c, nil
}

// DateFieldsAs maps every date field of s to format: an import's one
// date_format, given for all its date fields.
func (s *Schema) DateFieldsAs(format string) map[string]string {
	out := map[string]string{}
	for _, f := range s.Fields {
		if f.Type == TypeDate {
			out[f.Name] = format
		}
	}
	return out
}

// DateEvidence gathers what a column's values say about its day-month
// order. The zero value is ready to use.
type DateEvidence struct {
	DayFirst   int // values whose first number is above 12 (13/03/2024)
	MonthFirst int // values whose second number is above 12 (03/13/2024)
	Unclear    int // values like 03/07/2024 that either order reads
	FirstDay   int // row of the first day-first value (0: none)
	FirstMonth int // row of the first month-first value (0: none)
}

// Add weighs one cell of row. Only n/n/yyyy values (slashes, year last)
// can be read both ways; every other form is unambiguous or not a date.
func (e *DateEvidence) Add(row int, raw string) {
	a, b, ok := slashDayMonth(strings.TrimSpace(raw))
	if !ok {
		return
	}
	switch {
	case a > 12 && b <= 12:
		e.DayFirst++
		if e.FirstDay == 0 {
			e.FirstDay = row
		}
	case b > 12 && a <= 12:
		e.MonthFirst++
		if e.FirstMonth == 0 {
			e.FirstMonth = row
		}
	case a <= 12 && b <= 12:
		e.Unclear++
	}
}

// slashDayMonth reads the two leading numbers of a/b/yyyy (one or two
// digits each), without allocating: it runs on every cell read ahead.
func slashDayMonth(s string) (a, b int, ok bool) {
	num := func(s string) (v, n int) {
		for n < len(s) && n < 3 && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
		}
		return v, n
	}
	a, n := num(s)
	if n == 0 || n > 2 || n >= len(s) || s[n] != '/' {
		return 0, 0, false
	}
	s = s[n+1:]
	b, n = num(s)
	if n == 0 || n > 2 || n >= len(s) || s[n] != '/' {
		return 0, 0, false
	}
	s = s[n+1:]
	if len(s) != 4 {
		return 0, 0, false
	}
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, false
		}
	}
	if a < 1 || b < 1 {
		return 0, 0, false
	}
	return a, b, true
}

// Why a column's order was chosen.
const (
	OrderEvidence = "evidence"  // every telling value agrees
	OrderMixed    = "mixed"     // values of both orders: the column is ambiguous
	OrderNoClue   = "no_clue"   // only values either order reads: ambiguous
	OrderNoValues = "no_values" // no n/n/yyyy value at all: nothing to decide
)

// DateDecision is the order resolved for a column and why.
type DateDecision struct {
	Order string // DateDMY or DateMDY
	Basis string // Order*
}

// Ambiguous reports whether the decision is a guess that deserves a warning.
func (d DateDecision) Ambiguous() bool { return d.Basis == OrderMixed || d.Basis == OrderNoClue }

// Decide resolves the order: day-first only when the evidence is all
// day-first; otherwise month-first, as date fields read without evidence.
func (e *DateEvidence) Decide() DateDecision {
	switch {
	case e.DayFirst > 0 && e.MonthFirst > 0:
		return DateDecision{Order: DateMDY, Basis: OrderMixed}
	case e.DayFirst > 0:
		return DateDecision{Order: DateDMY, Basis: OrderEvidence}
	case e.MonthFirst > 0:
		return DateDecision{Order: DateMDY, Basis: OrderEvidence}
	case e.Unclear > 0:
		return DateDecision{Order: DateMDY, Basis: OrderNoClue}
	}
	return DateDecision{Order: DateMDY, Basis: OrderNoValues}
}

// AmbiguityMessage explains an ambiguous decision for field to people.
func (e *DateEvidence) AmbiguityMessage(field string, d DateDecision) string {
	switch d.Basis {
	case OrderMixed:
		return fmt.Sprintf("%s: the values disagree on the day-month order (row %d reads day first, row %d month first); read month first (mm/dd/yyyy), so day-first values such as row %d's fail; give date_format (dmy or mdy) to choose",
			field, e.FirstDay, e.FirstMonth, e.FirstDay)
	case OrderNoClue:
		return fmt.Sprintf("%s: no value tells the day-month order (none has a number above 12); read month first (mm/dd/yyyy): 03/07/2024 is 7 March; give date_format=dmy if it means 3 July", field)
	}
	return ""
}
