package schema

import (
	"fmt"
	"strings"
	"time"
)

// isoLayout is the stored form of dates.
const isoLayout = "2006-01-02"

// dateFormat is one accepted way of writing a date.
type dateFormat struct {
	name    string
	layouts []string // Go layouts tried in order
	display string   // how the reference date 2024-03-31 is written
	need    string   // at least one of these bytes must occur (cheap filter); "" none
	iso     bool     // yyyy-mm-dd: checked without time.Parse
}

// Named date formats. A field's formats may name these or give Go layouts.
var namedDateFormats = map[string]dateFormat{
	"iso":       {name: "iso", layouts: []string{"2006-1-2", "2006-1-2 15:04:05", "2006-1-2 15:04"}, display: "2024-03-31", need: "-", iso: true},
	"us":        {name: "us", layouts: []string{"1/2/2006"}, display: "03/31/2024", need: "/"},
	"eu":        {name: "eu", layouts: []string{"2/1/2006"}, display: "31/03/2024", need: "/"},
	"dot":       {name: "dot", layouts: []string{"2.1.2006"}, display: "31.03.2024", need: "."},
	"ymd_slash": {name: "ymd_slash", layouts: []string{"2006/1/2"}, display: "2024/03/31", need: "/"},
	"text": {name: "text", layouts: []string{
		"Jan 2 2006", "Jan 2, 2006", "January 2 2006", "January 2, 2006",
		"2 Jan 2006", "2 January 2006", "Mon, Jan 2, 2006", "Monday, January 2, 2006",
	}, display: "Mar 31 2024"},
	"rfc3339": {name: "rfc3339", layouts: []string{time.RFC3339}, display: "2024-03-31T09:30:00Z", need: "T"},
}

// defaultDateFormats are accepted when a date field lists none.
var defaultDateFormats = []string{"iso", "us", "dot", "ymd_slash", "text", "rfc3339"}

var refDate = time.Date(2024, 3, 31, 9, 30, 0, 0, time.UTC)

// compileDateFormats resolves a field's formats; the hint shows the
// reference date in the first one.
func compileDateFormats(names []string) ([]dateFormat, string, error) {
	if len(names) == 0 {
		names = defaultDateFormats
	}
	out := make([]dateFormat, 0, len(names))
	for _, n := range names {
		if df, ok := namedDateFormats[strings.ToLower(n)]; ok {
			out = append(out, df)
			continue
		}
		// A Go layout: it must carry a year, a month and a day.
		s := refDate.Format(n)
		t, err := time.Parse(n, s)
		if err != nil || t.Year() != 2024 || t.Month() != 3 || t.Day() != 31 {
			return nil, "", fmt.Errorf("date format %q is neither a named format (iso, us, eu, dot, ymd_slash, text, rfc3339) nor a Go layout with year, month and day (e.g. 02/01/2006)", n)
		}
		out = append(out, dateFormat{name: n, layouts: []string{n}, display: s})
	}
	return out, out[0].display, nil
}

// parseDate reads raw in one of the formats and returns it as yyyy-mm-dd.
// A timestamp keeps the calendar date as written (its own offset).
func parseDate(formats []dateFormat, raw string) (string, bool) {
	for i := range formats {
		df := &formats[i]
		if df.iso {
			if v, ok, sure := parseISODate(raw); sure {
				if ok {
					return v, true
				}
				continue
			}
		}
		if df.need != "" && !strings.ContainsAny(raw, df.need) {
			continue
		}
		for _, l := range df.layouts {
			if t, err := time.Parse(l, raw); err == nil {
				return t.Format(isoLayout), true
			}
		}
	}
	return "", false
}

// parseISODate checks yyyy-mm-dd without time.Parse. sure is false when raw
// does not have that shape (it may still be e.g. 2024-3-1).
func parseISODate(s string) (v string, ok, sure bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return "", false, false
	}
	n := func(a, b int) int {
		v := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, m, d := n(0, 4), n(5, 7), n(8, 10)
	if y < 0 || m < 1 || m > 12 || d < 1 {
		return "", false, true
	}
	if d > daysIn(time.Month(m), y) {
		return "", false, true
	}
	return s, true, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
