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
	col             column
}

func (t *table) section(title string) {
	t.lines = append(t.lines, tableLine{section: true, what: title})
}

func (t *table) add(what string, col column, ratio, rss string) {
	t.lines = append(t.lines, tableLine{what: what, col: col, ratio: ratio, rs: rss})
}

func (t *table) print(w io.Writer) {
	fmt.Fprintf(w, "\n%-46s %9s  %-18s %-45s %s\n", "", "rows/s", "CPU a row", "ratio", "peak RSS")
	for _, l := range t.lines {
		if l.section {
			fmt.Fprintln(w, l.what)
			continue
		}
		rate := ""
		if l.col.rate > 0 {
			rate = fmt.Sprintf("%.0f", l.col.rate)
		}
		fmt.Fprintf(w, "  %-44s %9s  %-18s %-45s %s\n", l.what, rate, l.col.cpu(), l.ratio, l.rs)
	}
	fmt.Fprintln(w, "CPU a row: user and system time of the database's process and the client's (serve, this benchmark, mongoimport) over the rows; db: the database's part")
}
