package mapping

import (
	"errors"
	"strings"
	"testing"
)

func TestParseGiven(t *testing.T) {
	g, err := ParseGiven(` {"E-mail 1 - Value": "email", "Notes": null} `)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 2 || g["E-mail 1 - Value"] == nil || *g["E-mail 1 - Value"] != "email" {
		t.Fatalf("given = %v", g)
	}
	if f, ok := g["Notes"]; !ok || f != nil {
		t.Fatalf("Notes must be named and ignored: %v, %v", f, ok)
	}
	if g, err := ParseGiven("  "); err != nil || g != nil {
		t.Fatalf("no mapping: %v, %v", g, err)
	}
	for _, bad := range []string{`["email"]`, `{"a": 1}`, `{"a": "b"} {}`, `null`, `{"a": "b"`} {
		_, err := ParseGiven(bad)
		var me *Error
		if !errors.As(err, &me) || !strings.Contains(me.Message, "not a JSON object of column header to field name or null") {
			t.Errorf("ParseGiven(%s) = %v, want a mapping error", bad, err)
		}
	}
}
