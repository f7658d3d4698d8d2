package app_test

import (
	"fmt"
	"strings"
	"testing"
)

// Typed fields survive the trip through the pipeline: a list is stored as a
// list, and importing the same file again finds nothing changed. Rows that
// would create a record must have the fields creation needs; rows that
// update one need not.
func TestTypedFieldsAndCreateRequirements(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	file := "First Name,Last Name,Username,Email,Tag\n" +
		"Ann,Lee,ann,ann@x.io,\"vip, beta\"\n" +
		",,,bob@x.io,beta\n" // cannot create: names and username missing
	fields := map[string]string{"schema": "community_users"}
	v := s.importCSV(file, fields)
	if counts(v) != [5]int{1, 0, 0, 1, 0} {
		t.Fatalf("first import = %v %+v", counts(v), v.Errors)
	}
	var problems []string
	for _, e := range v.Errors {
		problems = append(problems, e.Field)
	}
	if got := strings.Join(problems, ","); got != "first_name,last_name,username" {
		t.Fatalf("create requirements reported for %q", got)
	}
	doc := s.records("default", "community_users")["email:ann@x.io"]
	if fmt.Sprint(doc["tags"]) != "[vip beta]" {
		t.Fatalf("tags stored as %#v", doc["tags"])
	}

	if v := s.importCSV(file, fields); counts(v) != [5]int{0, 0, 1, 1, 0} {
		t.Fatalf("re-import = %v, want the list unchanged (skipped) and bob still failing", counts(v))
	}
	// An update needs only the key: the empty cells leave the names alone.
	if v := s.importCSV("Email,Tag\nann@x.io,gold\n", fields); counts(v) != [5]int{0, 1, 0, 0, 0} {
		t.Fatalf("update by email only = %v %+v", counts(v), v.Errors)
	}
	doc = s.records("default", "community_users")["email:ann@x.io"]
	if doc["first_name"] != "Ann" || fmt.Sprint(doc["tags"]) != "[gold]" {
		t.Fatalf("after update: %v", doc)
	}
}
