package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/mapping"
)

// --map COLUMN=FIELD becomes the upload's JSON mapping; COLUMN= ignores the
// column; @NAME is a saved mapping, used alone.
func TestMapFlags(t *testing.T) {
	var m columnMaps
	for _, v := range []string{"E-mail 1 - Value=email", "Notes=", "a=b=name"} {
		if err := m.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	opt, err := m.option()
	if err != nil {
		t.Fatal(err)
	}
	var got mapping.Given
	if err := json.Unmarshal([]byte(opt), &got); err != nil {
		t.Fatalf("%s: %v", opt, err)
	}
	email, name := "email", "name"
	if want := (mapping.Given{"E-mail 1 - Value": &email, "Notes": nil, "a=b": &name}); !reflect.DeepEqual(got, want) {
		t.Errorf("mapping %s", opt)
	}
	if err := m.Set("Notes"); err == nil {
		t.Error("a --map without = accepted")
	}
	saved := columnMaps{"@google"}
	if opt, err := saved.option(); err != nil || opt != "@google" {
		t.Errorf("saved: %q %v", opt, err)
	}
	if _, err := append(saved, "x=email").option(); err == nil || !strings.Contains(err.Error(), "used alone") {
		t.Errorf("saved with others: %v", err)
	}
}
