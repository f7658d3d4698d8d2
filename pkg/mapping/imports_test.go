package mapping

import (
	"strings"
	"testing"
)

// A header an import cannot use is refused with what to do; a plan that
// leaves the key without a column names it.
func TestForImportAndMissing(t *testing.T) {
	contacts := builtin(t, "contacts")
	if _, err := ForImport(contacts, []string{"Foo", "Bar"}, nil); err == nil || !strings.Contains(err.Error(), "no column of the header matches schema contacts") {
		t.Errorf("no matching column: %v", err)
	}
	p, err := ForImport(contacts, []string{"Name", "Phone"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.CheckMissing(contacts, "email")
	if want := `no column provides email (required as the reconciliation key): map one with mapping={"<column>": "email"}`; err == nil || err.Error() != want {
		t.Errorf("missing key: %v, want %s", err, want)
	}
	if err := p.CheckMissing(contacts, "phone"); err != nil {
		t.Errorf("key phone, which the file has: %v", err)
	}

	// A schema that refuses unknown columns refuses those the mapping does
	// not ignore.
	strict := *contacts
	strict.UnknownHeaders = "error"
	if _, err := ForImport(&strict, []string{"Name", "Email", "Notes", "Tags"}, Given{"Notes": nil}); err == nil || !strings.Contains(err.Error(), "unknown columns for schema contacts: Tags") {
		t.Errorf("strict schema: %v", err)
	}
	if _, err := ForImport(&strict, []string{"Name", "Email", "Notes"}, Given{"Notes": nil}); err != nil {
		t.Errorf("strict schema, the unknown column ignored by the mapping: %v", err)
	}
}
