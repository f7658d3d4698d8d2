package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/schema/schematest"
	"github.com/intake/intake/schemas"
	"github.com/intake/intake/services/validator"
)

// TestJudgeRows: a preview's rows are judged by the validator itself,
// mapped as the import would map them: a Google Contacts row's email comes
// from "E-mail 1 - Value", and malformed, ragged and invalid rows carry the
// validator's codes.
func TestJudgeRows(t *testing.T) {
	sch := schematest.Load(t, schemas.Entities, "entities/contacts.json")
	// Google Contacts' header, as in pkg/mapping/testdata/google_contacts.csv.
	header := strings.Split("First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value", ",")
	row := func(first, last, email, phone string) []string {
		cells := make([]string, len(header))
		cells[0], cells[2], cells[18], cells[22] = first, last, email, phone
		return cells
	}
	plan, err := mapping.Decide(sch, header, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := []filereader.Row{
		{Number: 2, Cells: row("Ann", "Smith", "ann@home.example ::: ann@other.example", "+1 415 555 2671")},
		{Number: 3, Cells: row("Bob", "Jones", "bob@", "")},
		{Number: 4, Err: errors.New("malformed CSV: bare \" in non-quoted field")},
		{Number: 5, Cells: []string{"Cy"}},
		{Number: 6, Cells: row("Dee", "", "", "")},
	}
	got := imports.JudgeRows(sch, envelope.Options{Schema: "contacts", Mode: "upsert"}, header, plan, rows, validator.Validate)
	want := []struct {
		row   int
		field string
		code  string
	}{{2, "", ""}, {3, "email", envelope.CodeValidation}, {4, "", envelope.CodeMalformed}, {5, "", envelope.CodeValidation}, {6, "email", envelope.CodeValidation}}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Row != w.row {
			t.Fatalf("row %d: number %d", w.row, g.Row)
		}
		if w.code == "" {
			if len(g.Problems) != 0 {
				t.Errorf("row %d: problems %+v, want none", w.row, g.Problems)
			}
			continue
		}
		if len(g.Problems) == 0 || g.Problems[0].Field != w.field || g.Problems[0].Code != w.code || g.Problems[0].Message == "" {
			t.Errorf("row %d: problems %+v, want %s on %q", w.row, g.Problems, w.code, w.field)
		}
	}
	if !strings.Contains(got[3].Problems[0].Message, "cells") {
		t.Errorf("a ragged row: %q, want the validator's width message", got[3].Problems[0].Message)
	}
	if got[0].Cells[0] != "Ann" {
		t.Errorf("cells are the row as read: %q", got[0].Cells)
	}
}
