package schema

import (
	"strings"
	"testing"
)

// An address with an invisible character is a different reconciliation key
// that looks like (or exactly like) another address; net/mail accepts them
// all inside an address, so the email type must refuse them itself.
func TestEmailRefusesInvisibleCharacters(t *testing.T) {
	s, err := Parse([]byte(`{"name": "t", "keys": ["email"], "fields": [
		{"name": "email", "type": "email"},
		{"name": "emails", "type": "list", "item_type": "email"},
		{"name": "name", "type": "string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	hm, err := s.MapHeader([]string{"email", "emails", "name"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		email string
		char  string
	}{
		{"ann\u200b@example.com", "U+200B"},         // zero-width space
		{"ann\u202e@example.com", "U+202E"},         // right-to-left override
		{"\u2066ann@example.com\u2069", "U+2066"},   // bidi isolate
		{"ann\ufeff@example.com", "U+FEFF"},         // byte order mark
		{"an\u00adn@example.com", "U+00AD"},         // soft hyphen
		{"ann\u00a0x@example.com", "U+00A0"},        // no-break space (inside: TrimSpace keeps it)
		{"ann\u2028x@example.com", "U+2028"},        // line separator
		{"ann@exa\u200dmple.com", "U+200D"},         // zero-width joiner in the domain
		{"ann\ufffd@example.com", "U+FFFD"},         // a byte that was not text
		{"ann\x1b[31m@example.com", "U+001B"},       // terminal escape
		{"ann\u0085x@example.com", "U+0085"},        // C1 control (next line)
		{"ann@example.com\r\nBcc: x@y.z", "U+000D"}, // header injection
	} {
		for _, col := range []int{0, 1} {
			cells := []string{"", "", "Ann"}
			cells[col] = c.email
			_, errs := s.Validate(hm, cells, "name")
			if len(errs) != 1 || !strings.Contains(errs[0].Message, "invisible character "+c.char) {
				t.Errorf("%q in column %d: %+v, want one problem naming %s", c.email, col, errs, c.char)
				continue
			}
			// The message shows the character escaped, never raw.
			if msg := errs[0].Message; strings.ContainsAny(msg, "\u200b\u202e\u2066\ufeff\u00ad\u00a0\u2028\u200d\x1b\u0085\r\n") {
				t.Errorf("%q: the message carries the character raw: %q", c.email, msg)
			}
		}
	}
	// Visible non-ASCII addresses (internationalised mail) stay valid, and
	// a look-alike of another script is a different address, as it is for
	// mail servers; only invisible characters are refused.
	for _, ok := range []string{"müller@example.com", "\u0430nn@example.com", "ann@b\u00fccher.example", "用户@例子.广告"} {
		rec, errs := s.Validate(hm, []string{ok, "", "Ann"}, "email")
		if len(errs) != 0 || rec["email"] != strings.ToLower(ok) {
			t.Errorf("%q: %v %+v", ok, rec, errs)
		}
	}
	// Names are text: an RTL override or a zero-width joiner (needed by some
	// scripts) in a name is stored as written.
	rec, errs := s.Validate(hm, []string{"rtl@example.com", "", "\u202eAnn\u202c \u0646\u200c\u0627"}, "email")
	if len(errs) != 0 || rec["name"] != "\u202eAnn\u202c \u0646\u200c\u0627" {
		t.Errorf("name with format characters: %v %+v", rec, errs)
	}
}

// Messages quote cell values; a value with control or format characters is
// shown escaped, so a message printed to a terminal (intake errors), written
// to a log or opened in a spreadsheet cannot carry escape sequences, line
// breaks or bidi reordering taken from the file.
func TestQuoteEscapesUnprintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                          "'plain'",
		"with space":                     "'with space'",
		"Müller 用户":                      "'Müller 用户'",
		"a\nb":                           `'a\nb'`,
		"a\r\nSet-Cookie: x":             `'a\r\nSet-Cookie: x'`,
		"\x1b]0;pwned\x07":               `'\x1b]0;pwned\a'`,
		"\u202eevil":                     `'\u202eevil'`,
		"zero\u200bwidth":                `'zero\u200bwidth'`,
		"tab\there":                      `'tab\there'`,
		strings.Repeat("\u202e", 70):     "'" + strings.Repeat(`\u202e`, 57) + "...'",
		"=HYPERLINK(\"http://x\",\"y\")": `'=HYPERLINK("http://x","y")'`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Text fields refuse control characters other than tab and line breaks: a
// NUL past the reader's binary sniff, or an escape sequence, never reaches
// the database.
func TestTextRefusesControlCharacters(t *testing.T) {
	s, err := Parse([]byte(`{"name": "t", "keys": ["email"], "fields": [
		{"name": "email", "type": "email"},
		{"name": "name", "type": "string"},
		{"name": "tags", "type": "list"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	hm, _ := s.MapHeader([]string{"email", "name", "tags"})
	for _, c := range []struct{ name, tags, field, msg string }{
		{"Nul\x00Byte", "", "name", `name: 'Nul\x00Byte' contains the control character U+0000`},
		{"\x1b[2J\x1b]0;pwned\x07", "", "name", "contains the control character U+001B"},
		{"Del\x7f", "", "name", "U+007F"},
		{"C1\u0085x", "", "name", "U+0085"},
		{"Ann", "ok, bad\x00tag", "tags", "U+0000"},
	} {
		_, errs := s.Validate(hm, []string{"a@b.co", c.name, c.tags}, "email")
		if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].Message, c.msg) {
			t.Errorf("%q %q: %+v, want %s saying %q", c.name, c.tags, errs, c.field, c.msg)
		}
	}
	rec, errs := s.Validate(hm, []string{"a@b.co", "Ann\tLee\r\nLine two", ""}, "email")
	if len(errs) != 0 || rec["name"] != "Ann\tLee\r\nLine two" {
		t.Errorf("tab and line breaks: %v %+v", rec, errs)
	}
}

// An integer in a JSON cell that a float64 cannot hold exactly is refused,
// including 2^53+1, which rounds to 2^53 and slipped past a check that
// started above 2^53.
func TestJSONIntegersBeyondFloatPrecision(t *testing.T) {
	f := &Field{Name: "a", Type: TypeJSON}
	if err := f.compile(); err != nil {
		t.Fatal(err)
	}
	for in, exact := range map[string]bool{
		"9007199254740992":     true, // 2^53
		"9007199254740993":     false,
		"-9007199254740993":    false,
		"9007199254740994":     true,
		"1234567890123456789":  false,
		"99999999999999999999": false,
		"9007199254740993.0":   true, // not an integer literal: a float, as written
	} {
		_, msg := f.parseJSON(`{"n":{"v":` + in + `}}`)
		if exact != (msg == "") || (!exact && !strings.Contains(msg, "cannot be stored exactly")) {
			t.Errorf("%s: %q", in, msg)
		}
	}
}
