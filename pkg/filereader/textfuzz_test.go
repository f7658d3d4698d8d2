package filereader

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

// checkRecordReader holds what the readers of files without a header row
// promise for any input: an error or a reader, never both; a header of
// distinct UTF-8 names; row numbers from 1, increasing; rows as wide as the
// header; no cell over maxCell bytes; and an end.
func checkRecordReader(t *testing.T, in []byte, opts Options) {
	t.Helper()
	rd, cleanup, err := Open(bytes.NewReader(in), opts)
	defer cleanup()
	if err != nil {
		if rd != nil {
			t.Fatal("a reader and an error")
		}
		return
	}
	seen := map[string]bool{}
	for _, h := range rd.Header() {
		if !utf8.ValidString(h) || seen[h] {
			t.Fatalf("header %q: not UTF-8 or twice", rd.Header())
		}
		seen[h] = true
	}
	last := 0
	for i := 0; ; i++ {
		if i > len(in)+1 {
			t.Fatalf("more rows than bytes: %d", i)
		}
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			return
		}
		if row.Number <= last {
			t.Fatalf("row numbers must increase: %d after %d", row.Number, last)
		}
		last = row.Number
		if row.Err != nil {
			continue
		}
		if len(row.Cells) != len(rd.Header()) {
			t.Fatalf("row %d has %d cells for %d columns", row.Number, len(row.Cells), len(rd.Header()))
		}
		for _, c := range row.Cells {
			if !utf8.ValidString(c) || len(c) > opts.MaxCellBytes {
				t.Fatalf("row %d: cell %q is not UTF-8 or over MaxCellBytes", row.Number, c)
			}
		}
	}
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`[{"name": "Ann", "address": {"city": "X"}, "tags": ["a", 1]}, {"name": "Bob", "x": null}]`))
	f.Add([]byte(`[1, "a", [], {"k": [{"a": 1}]}, {"k": {"k": {"k": {}}}}, {"x": {"k": 1}, "a": [1, "b"]}]`))
	f.Add([]byte(`[{"a": 1, "a": 2}, {"a.b": 1, "a": {"b": 2}}] x`))
	f.Add([]byte(`[{"a": "` + "\xff\xfe" + `"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecordReader(t, in, Options{Format: FormatJSON, MaxCellBytes: 64, MaxRowBytes: 256, MaxColumns: 16, HeaderLookahead: 4,
			JSONFields: &testFields{whole: map[string]bool{"k": true}, lists: map[string]string{"a": ","}}})
	})
}

func FuzzNDJSON(f *testing.F) {
	f.Add([]byte("{\"name\": \"Ann\"}\n\n{\"name\": \"Bob\", \"a\": {\"b\": [1, 2]}}\r\n"))
	f.Add([]byte("{\"a\": 1}\nnot json\n[1]\n{\"a\": 1} {\"b\": 2}\n{\"c\": 3}"))
	f.Add([]byte("{\"a\": \"" + string(bytes.Repeat([]byte("x"), 600)) + "\"}\n{\"a\": 1}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecordReader(t, in, Options{Format: FormatNDJSON, MaxCellBytes: 64, MaxRowBytes: 256, MaxColumns: 16, HeaderLookahead: 4})
	})
}

func FuzzVCard(f *testing.F) {
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEMAIL;TYPE=pref:j@example.com\r\nEMAIL:k@exa\r\n mple.com\r\nTEL;TYPE=CELL:+1 415 555 0123\r\nADR:;;1 Main St;Town;;12345;US\r\nEND:VCARD\r\n"))
	f.Add([]byte("BEGIN:VCARD\nVERSION:2.1\nN;ENCODING=QUOTED-PRINTABLE;CHARSET=ISO-8859-1:M=FCller;=\nJ=FCrgen\nTEL;CELL;PREF:1\nEND:VCARD\nBEGIN:VCARD\nFN:x"))
	f.Add([]byte("BEGIN:VCARD\nitem1.EMAIL;PREF=\"1\":a@b\nNOTE:a\\nb\\;c\\\\\nORG:A;B\\;C;D\nBEGIN:VCARD\nEND:VCARD\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecordReader(t, in, Options{Format: FormatVCard, MaxCellBytes: 64, MaxRowBytes: 256, MaxColumns: 32})
	})
}
