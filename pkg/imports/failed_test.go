package imports

import (
	"reflect"
	"testing"

	"github.com/intake/intake/pkg/envelope"
)

// A row's reasons name each problem's field and code, in the order found.
func TestReasons(t *testing.T) {
	for _, tc := range []struct {
		problems []envelope.Problem
		want     string
	}{
		{[]envelope.Problem{{Field: "email", Code: envelope.CodeValidation, Message: "'bob@' is not a valid email address"}},
			"email (validation): 'bob@' is not a valid email address"},
		{[]envelope.Problem{
			{Field: "email", Code: envelope.CodeValidation, Message: "required"},
			{Field: "age", Code: envelope.CodeValidation, Message: "not a number"}},
			"email (validation): required; age (validation): not a number"},
		{[]envelope.Problem{{Field: "email", Code: envelope.CodeValidation, Message: "email: required as the reconciliation key of this import"}},
			"email (validation): required as the reconciliation key of this import"},
		{[]envelope.Problem{{Code: envelope.CodeMalformed, Message: "bare quote"}}, "(malformed): bare quote"},
		{[]envelope.Problem{{Message: "no code"}}, "no code"},
		{nil, ""},
	} {
		if got := Reasons(tc.problems); got != tc.want {
			t.Errorf("Reasons(%v) = %q, want %q", tc.problems, got, tc.want)
		}
	}
}

// Only the chunk's failed rows come out, in order, padded to the header's
// width, without the reasons column of an earlier failed-rows file.
func TestEmitFailed(t *testing.T) {
	ch := envelope.RowChunk{
		Header: []string{"name", "intake_reasons", "email"},
		Rows: []envelope.RawRow{
			{Row: 2, Cells: []string{"Ann", "old", "ann@x.io"}},
			{Row: 3, Cells: []string{"Bob", "old", "bob@"}},
			{Row: 4, Cells: []string{"Cid"}},
			{Row: 5, Cells: []string{"Dee", "", "dee@x.io"}},
		},
	}
	failed := []envelope.Outcome{
		{Row: 3, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Code: "validation", Message: "bad"}}},
		{Row: 4, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Code: "validation", Message: "required"}}},
		{Row: 900, Result: envelope.Failed, Problems: []envelope.Problem{{Message: "another chunk's"}}},
	}
	skip := reasonsColumns(ch.Header)
	if !reflect.DeepEqual(skip, []int{1}) {
		t.Fatalf("reasonsColumns = %v", skip)
	}
	type row struct {
		cells   []string
		reasons string
	}
	var got []row
	err := emitFailed(ch, failed, len(ch.Header), skip, func(cells []string, reasons string) error {
		got = append(got, row{cells, reasons})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{[]string{"Bob", "bob@"}, "email (validation): bad"},
		{[]string{"Cid", ""}, "email (validation): required"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("emitted %q, want %q", got, want)
	}
	if h := without(ch.Header, skip); !reflect.DeepEqual(h, []string{"name", "email"}) {
		t.Fatalf("header = %q", h)
	}
}
