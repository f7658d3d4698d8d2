package filereader

import (
	"reflect"
	"strings"
	"testing"
)

// linkedInPreamble is how LinkedIn's Connections.csv starts: a "Notes:"
// line, a quoted sentence (with commas), a blank line, then the header.
const linkedInPreamble = "Notes:\n" +
	"\"When exporting your connection data, you may notice that some of the email addresses are missing. You will only see email addresses for connections who have allowed their connections to see or download their email address.\"\n" +
	"\n"

func TestCSVHeaderAfterPreamble(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		header  []string
		numbers []int
		first   []string
	}{
		{
			name:    "LinkedIn connections",
			in:      linkedInPreamble + "First Name,Last Name,URL,Email Address,Company,Position,Connected On\nAnn,Smith,https://www.linkedin.com/in/annsmith,ann@work.example,Example Corp,CTO,05 Mar 2024\n\nBob,Jones,,,,,06 Mar 2024\n",
			header:  []string{"First Name", "Last Name", "URL", "Email Address", "Company", "Position", "Connected On"},
			numbers: []int{5, 7},
			first:   []string{"Ann", "Smith", "https://www.linkedin.com/in/annsmith", "ann@work.example", "Example Corp", "CTO", "05 Mar 2024"},
		},
		{
			name:    "semicolons after a title line",
			in:      "Export of 2024-03-05\r\nname;email\r\nAnn;ann@example.com\r\n",
			header:  []string{"name", "email"},
			numbers: []int{3},
			first:   []string{"Ann", "ann@example.com"},
		},
		{
			name:    "a header with no data rows",
			in:      "Notes:\nname,email\n",
			header:  []string{"name", "email"},
			numbers: nil,
		},
		// Ordinary files are read as before.
		{
			name:    "a header of several columns, a ragged row after it",
			in:      "name,email\nAnn\nBob,bob@example.com\n",
			header:  []string{"name", "email"},
			numbers: []int{2, 3},
			first:   []string{"Ann"},
		},
		{
			name:    "one column",
			in:      "email\nann@example.com\nbob@example.com\n",
			header:  []string{"email"},
			numbers: []int{2, 3},
			first:   []string{"ann@example.com"},
		},
		{
			name:    "one column, then a row of two cells and a row of one",
			in:      "email\nann@example.com\nbob,bob@example.com\ncid@example.com\n",
			header:  []string{"email"},
			numbers: []int{2, 3, 4},
			first:   []string{"ann@example.com"},
		},
		{
			name:    "more than ten lines of text before the header",
			in:      strings.Repeat("text\n", MaxPreambleRows+1) + "name,email\nAnn,ann@example.com\n",
			header:  []string{"text"},
			numbers: []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
			first:   []string{"text"},
		},
		{
			name:    "ten lines of text before the header",
			in:      strings.Repeat("text\n", MaxPreambleRows) + "name,email\nAnn,ann@example.com\n",
			header:  []string{"name", "email"},
			numbers: []int{12},
			first:   []string{"Ann", "ann@example.com"},
		},
		{
			name:    "a candidate header with one non-empty cell",
			in:      "Notes:\nname,\nAnn,x\n",
			header:  []string{"Notes:"},
			numbers: []int{2, 3},
			first:   []string{"name", ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header, rows := readAll(t, tc.in, CSVOptions{})
			if !reflect.DeepEqual(header, tc.header) {
				t.Fatalf("header = %q, want %q", header, tc.header)
			}
			var numbers []int
			for _, r := range rows {
				numbers = append(numbers, r.Number)
			}
			if !reflect.DeepEqual(numbers, tc.numbers) {
				t.Fatalf("row numbers = %v, want %v", numbers, tc.numbers)
			}
			if len(rows) > 0 && !reflect.DeepEqual(rows[0].Cells, tc.first) {
				t.Fatalf("first row = %q, want %q", rows[0].Cells, tc.first)
			}
		})
	}
}

// FuzzCSVPreamble: up to MaxPreambleRows lines of text before a file whose
// header names two columns and whose first data row has two cells change
// nothing but the row numbers, shifted by the lines added.
func FuzzCSVPreamble(f *testing.F) {
	f.Add([]byte("Ann,ann@example.com\n\"x\ny\",2\n"), uint8(2), "Notes:")
	f.Add([]byte("1,2\n3\n\n4,5,6\n"), uint8(10), "When exporting your connection data")
	f.Add([]byte("1,2\n\"open"), uint8(1), "x")
	f.Fuzz(func(t *testing.T, body []byte, lines uint8, text string) {
		text = strings.Map(func(r rune) rune {
			// ASCII text without delimiters or quotes (non-ASCII text
			// would take part in guessing the encoding).
			if strings.ContainsRune(",;|\"", r) || r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, text)
		text = text[:min(len(text), 64)] // a longer line is over the cell bound: no preamble
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.ToLower(text), "sep=") {
			return
		}
		n := int(lines)%MaxPreambleRows + 1
		plain := "name,email\n1,2\n" + string(body)
		opts := Options{Format: FormatCSV, Delimiter: ",", MaxCellBytes: 64, MaxColumns: 16}
		read := func(in string) ([]string, []Row, error) {
			rd, _, err := Open(strings.NewReader(in), opts)
			if err != nil {
				return nil, nil, err
			}
			var rows []Row
			for len(rows) < 1000 {
				row, err := rd.Next()
				if err != nil {
					break
				}
				rows = append(rows, row)
			}
			return rd.Header(), rows, nil
		}
		wantHeader, want, err := read(plain)
		if err != nil {
			return // a binary file, say: refused with or without the lines
		}
		header, got, err := read(strings.Repeat(text+"\n", n) + plain)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !reflect.DeepEqual(header, wantHeader) {
			t.Fatalf("header %q, want %q", header, wantHeader)
		}
		if len(got) != len(want) {
			t.Fatalf("%d rows, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Number != want[i].Number+n || !reflect.DeepEqual(got[i].Cells, want[i].Cells) || (got[i].Err == nil) != (want[i].Err == nil) {
				t.Fatalf("row %d: %+v, want %+v shifted by %d", i, got[i], want[i], n)
			}
		}
	})
}
