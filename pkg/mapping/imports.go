package mapping

import (
	"fmt"
	"strings"

	"github.com/intake/intake/pkg/schema"
)

// ForImport decides an import's plan (Decide) and refuses one the schema
// cannot import by, as an upload's header is refused without a mapping:
// no column for any field, or (with the schema's unknown_headers: error)
// columns no field takes that the import's mapping does not ignore.
func ForImport(s *schema.Schema, header []string, given Given) (*Plan, error) {
	p, err := Decide(s, header, given)
	if err != nil {
		return nil, err
	}
	if len(p.targets) == 0 {
		return nil, &Error{fmt.Sprintf("no column of the header matches schema %s (expected some of: %s); map one with mapping={\"<column>\": \"<field>\"}",
			s.Name, strings.Join(s.Headers(), ", "))}
	}
	if s.UnknownHeaders == schema.HeadersError {
		var unknown []string
		for _, c := range p.report.Ignored {
			if strings.TrimSpace(c) == schema.ReasonsColumn {
				continue // a failed-rows file's reasons, uploaded again with the fixed rows
			}
			if _, named := lookupGiven(given, c); !named {
				unknown = append(unknown, c)
			}
		}
		if len(unknown) > 0 {
			return nil, &Error{fmt.Sprintf("unknown columns for schema %s: %s; ignore them with mapping={%q: null, ...}",
				s.Name, strings.Join(unknown, ", "), unknown[0])}
		}
	}
	return p, nil
}

// CheckMissing refuses a plan that leaves a field every row needs (required,
// or key, the import's reconciliation key) without a column: every row
// would fail. The error names the fields and how to map them.
func (p *Plan) CheckMissing(s *schema.Schema, key string) error {
	missing := p.Missing(s, key)
	if len(missing) == 0 {
		return nil
	}
	parts := make([]string, len(missing))
	for i, f := range missing {
		parts[i] = f + " (required)"
		if f == key {
			parts[i] = f + " (required as the reconciliation key)"
		}
	}
	return &Error{fmt.Sprintf("no column provides %s: map one with mapping={\"<column>\": %q}", strings.Join(parts, ", "), missing[0])}
}
