package main

import (
	"fmt"
	"io"
)

// ratio says a/b against a target multiple.
func ratio(a, b float64, of string, target float64) string {
	if a == 0 || b == 0 {
		return ""
	}
	mark := "met"
	if a/b < target {
		mark = "MISSED"
	}
	return fmt.Sprintf("%.2fx %s (target >= %.1fx: %s)", a/b, of, target, mark)
}

// table is the run's results, printed at the end so that the columns of
// one run stand side by side.
type table struct{ lines []tableLine }

type tableLine struct {
	section         bool
	what, ratio, rs string
	rate            float64
}

func (t *table) section(title string) {
	t.lines = append(t.lines, tableLine{section: true, what: title})
}

func (t *table) add(what string, rate float64, ratio, rss string) {
	t.lines = append(t.lines, tableLine{what: what, rate: rate, ratio: ratio, rs: rss})
}

func (t *table) print(w io.Writer) {
	fmt.Fprintf(w, "\n%-46s %9s  %-45s %s\n", "", "rows/s", "ratio", "peak RSS")
	for _, l := range t.lines {
		if l.section {
			fmt.Fprintln(w, l.what)
			continue
		}
		rate := ""
		if l.rate > 0 {
			rate = fmt.Sprintf("%.0f", l.rate)
		}
		fmt.Fprintf(w, "  %-44s %9s  %-45s %s\n", l.what, rate, l.ratio, l.rs)
	}
}
