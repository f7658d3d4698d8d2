package imports

import (
	"sort"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/schema"
)

// How far an upload is read ahead for date evidence before the import
// opens: the decision travels in its options (Options.DateFormats), so it
// must be made before the first chunk is published. A file's first 10,000
// rows (at most 4 MiB of cells) settle the order of nearly every real
// column; a later row that contradicts it fails alone, the same way on
// every delivery and replay.
const (
	dateLookaheadRows  = 10_000
	dateLookaheadBytes = 4 << 20
)

// resolveDates fills opts.DateFormats and opts.Warnings for the date fields
// of sch: every date field takes the import's given date_format; without
// one, each column whose field lists no formats of its own is decided from
// its evidence (columns maps a column to its field). Options that already
// carry DateFormats (a replay) are kept as they are.
func resolveDates(sch *schema.Schema, opts *envelope.Options, columns []string, evidence []schema.DateEvidence) {
	if opts.DateFormats != nil {
		return
	}
	resolved := map[string]string{}
	if opts.DateFormat != "" {
		resolved = sch.DateFieldsAs(opts.DateFormat)
	} else {
		for c, name := range columns {
			if c >= len(evidence) || name == "" {
				continue
			}
			f, _ := sch.Field(name)
			if f == nil || !f.InfersDateOrder() {
				continue
			}
			ev := &evidence[c]
			d := ev.Decide()
			if d.Basis == schema.OrderNoValues {
				continue // nothing to decide: the field keeps its formats
			}
			resolved[name] = d.Order
			if d.Ambiguous() {
				opts.Warnings = append(opts.Warnings, envelope.Warning{Field: name, Code: envelope.WarnAmbiguousDate, Message: ev.AmbiguityMessage(name, d)})
			}
		}
		sort.Slice(opts.Warnings, func(i, j int) bool { return opts.Warnings[i].Field < opts.Warnings[j].Field })
	}
	if len(resolved) > 0 {
		opts.DateFormats = resolved
	}
}

// dateColumns returns, per column, whether its order is left to evidence.
func dateColumns(sch *schema.Schema, columns []string) (infer []bool, some bool) {
	infer = make([]bool, len(columns))
	for c, name := range columns {
		if f, _ := sch.Field(name); f != nil && f.InfersDateOrder() {
			infer[c], some = true, true
		}
	}
	return infer, some
}

// lookahead reads rows ahead of publishing to gather date evidence, and
// then gives them back, followed by the rest of the file.
type lookahead struct {
	filereader.Reader
	rows []filereader.Row
	err  error // the error that ended the read-ahead, returned after rows
}

// readAhead reads up to the lookahead bounds from rd, weighing the cells of
// the columns marked in infer.
func readAhead(rd filereader.Reader, infer []bool, mapped func(cells []string) []string) (*lookahead, []schema.DateEvidence) {
	la := &lookahead{Reader: rd}
	evidence := make([]schema.DateEvidence, len(infer))
	bytes := 0
	for len(la.rows) < dateLookaheadRows && bytes < dateLookaheadBytes {
		row, err := rd.Next()
		if err != nil {
			la.err = err
			break
		}
		la.rows = append(la.rows, row)
		for _, cell := range row.Cells {
			bytes += len(cell)
		}
		if row.Err != nil {
			continue
		}
		for c, cell := range mapped(row.Cells) {
			if c < len(infer) && infer[c] {
				evidence[c].Add(row.Number, cell)
			}
		}
	}
	return la, evidence
}

func (la *lookahead) Next() (filereader.Row, error) {
	if len(la.rows) > 0 {
		r := la.rows[0]
		la.rows = la.rows[1:]
		return r, nil
	}
	if la.err != nil {
		return filereader.Row{}, la.err
	}
	return la.Reader.Next()
}

// decideDates resolves the import's date fields before it opens (reading
// ahead when a column's order is left to its values) and returns the
// reader to publish from.
func (s *Service) decideDates(sch *schema.Schema, opts *envelope.Options, rd filereader.Reader, plan *mapping.Plan) filereader.Reader {
	// The evidence is weighed on the cells as the validator will read them:
	// the import's mapping decides which column (or columns) a date field
	// takes its value from.
	columns := plan.Header()
	infer, some := dateColumns(sch, columns)
	var evidence []schema.DateEvidence
	if some && opts.DateFormat == "" && opts.DateFormats == nil {
		var la *lookahead
		la, evidence = readAhead(rd, infer, plan.Row)
		rd = la
	}
	resolveDates(sch, opts, columns, evidence)
	return rd
}
