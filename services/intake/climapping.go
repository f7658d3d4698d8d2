package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/intake/intake/pkg/mapping"
)

// columnMaps are the import command's --map flags: COLUMN=FIELD, COLUMN=
// (ignore the column), or one @NAME (a saved mapping).
type columnMaps []string

func (m *columnMaps) String() string { return strings.Join(*m, ", ") }

// Type names the flag's value in the help (pflag.Value).
func (m *columnMaps) Type() string { return "COLUMN=FIELD" }

func (m *columnMaps) Set(v string) error {
	if !strings.HasPrefix(v, "@") && !strings.Contains(v, "=") {
		return fmt.Errorf("%q: want COLUMN=FIELD, COLUMN= to ignore the column, or @NAME of a saved mapping", v)
	}
	*m = append(*m, v)
	return nil
}

// option is the upload's mapping option: "" (none), @NAME, or the JSON
// object of the COLUMN=FIELD pairs. A column's header may hold "=", a
// field's name does not: the last "=" splits.
func (m columnMaps) option() (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	given := mapping.Given{}
	for _, v := range m {
		if strings.HasPrefix(v, "@") {
			if len(m) > 1 {
				return "", fmt.Errorf("--map %s: a saved mapping is used alone, without other --map flags", v)
			}
			return v, nil
		}
		i := strings.LastIndex(v, "=")
		column, field := strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:])
		if field == "" {
			given[column] = nil
			continue
		}
		given[column] = &field
	}
	data, err := json.Marshal(given)
	return string(data), err
}

// printMapping says how the columns were mapped, when anything but the
// schema's own column names was involved: the fields with their columns
// and why, then the columns ignored.
func printMapping(w io.Writer, r *mapping.Report) {
	if r == nil || (r.Export == "" && len(r.Ignored) == 0 && !slices.ContainsFunc(r.Columns, func(c mapping.Column) bool {
		return c.Field != "" && c.Reason != mapping.ReasonExact
	})) {
		return
	}
	if r.Export != "" {
		fmt.Fprintf(w, "columns mapped as a %s export:\n", r.Export)
	} else {
		fmt.Fprintln(w, "columns mapped:")
	}
	for _, c := range r.Columns {
		if c.Field == "" {
			continue
		}
		line := fmt.Sprintf("  %s -> %s (%s", c.Column, c.Field, c.Reason)
		if c.Note != "" {
			line += "; " + c.Note
		}
		fmt.Fprintln(w, line+")")
	}
	if len(r.Ignored) > 0 {
		fmt.Fprintf(w, "  ignored: %s\n", strings.Join(r.Ignored, ", "))
	}
}
