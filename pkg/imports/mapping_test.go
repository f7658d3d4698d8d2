package imports_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/mapping"
)

// A mapping option is a JSON object of column to field or null; anything
// else is a mapping.Error that shows the shape wanted.
func TestParseMapping(t *testing.T) {
	email := "email"
	g, err := imports.ParseMapping([]byte(`{"E-mail 1 - Value": "email", "Notes": null}`))
	if err != nil || !reflect.DeepEqual(g, mapping.Given{"E-mail 1 - Value": &email, "Notes": nil}) {
		t.Fatalf("%v %v", g, err)
	}
	for _, bad := range []string{`{"a": `, `["email"]`, `{"a": 1}`, `{"a": "email"} {}`, `"email"`} {
		_, err := imports.ParseMapping([]byte(bad))
		var me *mapping.Error
		if !errors.As(err, &me) || !strings.Contains(err.Error(), `e.g. {"E-mail 1 - Value": "email", "Notes": null}`) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
