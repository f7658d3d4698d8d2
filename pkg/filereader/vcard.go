package filereader

import (
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// vCard columns. A card is one row under this fixed header, named so that
// the contacts schema's fields (name, email, phone, company) take theirs
// as they are and a mapping can reach the others; the address parts use
// the dotted names a nested JSON object gets.
const (
	vcName        = "name"             // FN, else composed from N
	vcFamily      = "family name"      // N, 1st component
	vcGiven       = "given name"       // N, 2nd
	vcAdditional  = "additional names" // N, 3rd
	vcPrefix      = "name prefix"      // N, 4th
	vcSuffix      = "name suffix"      // N, 5th
	vcEmail       = "email"            // the preferred EMAIL, else the first
	vcOtherEmails = "other emails"     // the others, joined with MultiValueSeparator
	vcPhone       = "phone"            // the preferred TEL, else the first
	vcPhoneType   = "phone type"       // its TYPE values, e.g. "cell" or "work,voice"
	vcOtherPhones = "other phones"     // the others' numbers, joined
	vcCompany     = "company"          // ORG, 1st component
	vcDepartment  = "department"       // ORG, the others joined with " / "
	vcTitle       = "title"            // TITLE
	vcAddress     = "address"          // the preferred ADR, else the first, on one line
	vcStreet      = "address.street"   // its street (with extended address and PO box)
	vcCity        = "address.city"
	vcRegion      = "address.region"
	vcPostalCode  = "address.postal_code"
	vcCountry     = "address.country"
	vcAddressType = "address.type"
	vcOtherAddrs  = "other addresses" // the others on one line each, joined
	vcNote        = "note"            // NOTE, several joined with a line break
	vcBirthday    = "birthday"        // BDAY as written (e.g. 1985-04-12, 19850412, --0412)
)

var vcardHeader = []string{vcName, vcFamily, vcGiven, vcAdditional, vcPrefix, vcSuffix,
	vcEmail, vcOtherEmails, vcPhone, vcPhoneType, vcOtherPhones, vcCompany, vcDepartment, vcTitle,
	vcAddress, vcStreet, vcCity, vcRegion, vcPostalCode, vcCountry, vcAddressType, vcOtherAddrs,
	vcNote, vcBirthday}

// vcardSource reads cards: each BEGIN:VCARD ... END:VCARD is a record whose
// number is the card's (the first card is row 1). Lines folded as RFC 6350
// 3.2 says (a line break followed by a space or a tab) are unfolded, and
// quoted-printable values (vCard 2.1 and 3 as phones and Outlook write
// them), with their soft line breaks, are decoded.
type vcardSource struct {
	lines   *lineReader
	maxCard int // bytes of values one card may keep (MaxRowBytes)
	n       int
	pending []byte // a logical line read but not used: the BEGIN of the next card
	done    bool
}

func openVCard(text io.Reader, opts Options) (Reader, error) {
	src := &vcardSource{lines: newLineReader(text, jsonItemBytes(opts)), maxCard: opts.MaxRowBytes}
	return newRecordReader(src, "card", vcardHeader, opts)
}

// errLineTooLong marks a logical line over the line bound.
var errLineTooLong = newError(ErrTooLarge, "a line of the card is too long")

// logicalLine reads one unfolded line without its line break.
func (v *vcardSource) logicalLine() ([]byte, error) {
	if v.pending != nil {
		l := v.pending
		v.pending = nil
		return l, nil
	}
	raw, tooLong, err := v.lines.read()
	if err != nil {
		return nil, err
	}
	line := trimEOL(raw)
	qp := isQuotedPrintable(line)
	for {
		next := v.lines.peek()
		// RFC 6350 3.2 folding; and a quoted-printable soft line break
		// (a trailing "=") continues on the next line as it is.
		folded := next == ' ' || next == '\t'
		soft := qp && bytes.HasSuffix(line, []byte("=")) && next != 0
		if !folded && !soft {
			break
		}
		more, long, err := v.lines.read()
		if err != nil {
			break
		}
		more = trimEOL(more)
		if folded && !soft {
			more = more[1:]
		} else {
			line = line[:len(line)-1]
		}
		tooLong = tooLong || long || int64(len(line)+len(more)) > v.lines.max
		if !tooLong {
			line = append(line, more...)
		}
	}
	if tooLong {
		return nil, errLineTooLong
	}
	return line, nil
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func isQuotedPrintable(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	return bytes.Contains(bytes.ToUpper(line[:colon]), []byte("QUOTED-PRINTABLE"))
}

func isLine(line []byte, want string) bool {
	return strings.EqualFold(string(bytes.TrimSpace(line)), want)
}

func (v *vcardSource) next() (record, error) {
	// Anything between cards is skipped.
	for !v.done {
		line, err := v.logicalLine()
		if err == io.EOF {
			return record{}, io.EOF
		}
		if err != nil && err != errLineTooLong {
			return record{}, err
		}
		if err == nil && isLine(line, "BEGIN:VCARD") {
			v.n++
			return v.card(), nil
		}
	}
	return record{}, io.EOF
}

// card reads the properties of a card whose BEGIN is read, up to its END.
func (v *vcardSource) card() record {
	c := &vcard{max: v.maxCard}
	rec := record{number: v.n}
	for {
		line, err := v.logicalLine()
		switch {
		case err == errLineTooLong:
			c.fail(err)
			continue
		case err == io.EOF:
			v.done = true
			c.fail(fmt.Errorf("the file ends inside the card: END:VCARD is missing"))
		case err != nil:
			v.done = true
			c.fail(err)
		case isLine(line, "END:VCARD"):
		case isLine(line, "BEGIN:VCARD"):
			v.pending = line
			c.fail(fmt.Errorf("END:VCARD is missing before the next BEGIN:VCARD"))
		default:
			c.property(line)
			continue
		}
		break
	}
	if c.err != nil {
		rec.err = c.err
		return rec
	}
	rec.fields = c.fields()
	return rec
}

// vcard collects one card's properties.
type vcard struct {
	max    int // bytes of values kept
	size   int
	err    error
	fn     string
	n      []string
	emails []vcValue
	tels   []vcValue
	org    []string
	title  string
	adrs   []vcValue
	notes  []string
	bday   string
}

// vcValue is a value of a property that may appear several times.
type vcValue struct {
	parts []string // the components (one, or ADR's seven)
	types []string // TYPE values, lower case, without "pref"
	pref  int      // 1 (most preferred) to 100; 0: not marked
}

func (c *vcard) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// property parses "[group.]NAME;PARAM=V;...:value".
func (c *vcard) property(line []byte) {
	colon := paramsEnd(line)
	if colon < 0 {
		return // not a property line: skipped, as vCard readers do
	}
	nameParams, raw := string(line[:colon]), string(line[colon+1:])
	c.size += len(line) // the whole line: empty values cost room too
	if c.size > c.max {
		c.fail(newError(ErrTooLarge, "the card is longer than %s", FormatBytes(int64(c.max))))
		return
	}
	params := splitUnquoted(nameParams, ';')
	name := strings.ToUpper(params[0])
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:] // a group: "item1.EMAIL"
	}
	var (
		val     vcValue
		qp, b64 bool
		charset string
	)
	for _, p := range params[1:] {
		k, pv, hasValue := strings.Cut(p, "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		if !hasValue { // vCard 2.1: bare "WORK", "QUOTED-PRINTABLE"
			k, pv = bareParam(k), k
		}
		switch k {
		case "ENCODING":
			switch strings.ToUpper(pv) {
			case "QUOTED-PRINTABLE":
				qp = true
			case "B", "BASE64":
				b64 = true
			}
		case "CHARSET":
			charset = strings.ToUpper(strings.Trim(pv, `"`))
		case "PREF":
			if n, err := strconv.Atoi(strings.Trim(pv, `"`)); err == nil && n > 0 {
				val.pref = n
			}
		case "TYPE":
			for _, t := range splitUnquoted(strings.Trim(pv, `"`), ',') {
				t = strings.ToLower(strings.TrimSpace(t))
				switch {
				case t == "pref":
					val.pref = 1
				case t != "":
					val.types = append(val.types, t)
				}
			}
		}
	}
	if b64 {
		return // a photo, a key, a sound: nothing for a row
	}
	if qp {
		raw = decodeQuotedPrintable(raw, charset)
	}
	switch name {
	case "FN":
		c.fn = unescapeText(raw)
	case "N":
		c.n = components(raw)
	case "EMAIL":
		val.parts = []string{unescapeText(raw)}
		c.emails = append(c.emails, val)
	case "TEL":
		num := unescapeText(raw)
		if len(num) > 4 && strings.EqualFold(num[:4], "tel:") {
			num = num[4:] // vCard 4's VALUE=uri
		}
		val.parts = []string{num}
		c.tels = append(c.tels, val)
	case "ORG":
		c.org = components(raw)
	case "TITLE":
		c.title = unescapeText(raw)
	case "ADR":
		val.parts = components(raw)
		c.adrs = append(c.adrs, val)
	case "NOTE":
		c.notes = append(c.notes, unescapeText(raw))
	case "BDAY":
		c.bday = strings.TrimSpace(raw)
	}
}

// bareParam names a vCard 2.1 parameter given by its value alone.
func bareParam(v string) string {
	switch v {
	case "QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT":
		return "ENCODING"
	}
	return "TYPE"
}

// paramsEnd is the index of the colon that ends the name and parameters
// (a colon inside a quoted parameter value does not), or -1.
func paramsEnd(line []byte) int {
	quoted := false
	for i, b := range line {
		switch b {
		case '"':
			quoted = !quoted
		case ':':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

// splitUnquoted splits s at sep outside double quotes.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// decodeQuotedPrintable decodes a value and converts it from its charset
// (UTF-8 unless it names a western one); a broken encoding keeps the text as
// written.
func decodeQuotedPrintable(raw, charset string) string {
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
	if err != nil {
		return raw
	}
	switch charset {
	case "ISO-8859-1", "ISO-8859-15", "WINDOWS-1252", "CP1252", "LATIN1":
		if u, err := charmap.Windows1252.NewDecoder().Bytes(b); err == nil {
			b = u
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// components splits a structured value (N, ORG, ADR) at unescaped
// semicolons and unescapes each part.
func components(raw string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			cur.WriteByte(raw[i])
			cur.WriteByte(raw[i+1])
			i++
			continue
		}
		if raw[i] == ';' {
			out = append(out, unescapeText(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(raw[i])
	}
	return append(out, unescapeText(cur.String()))
}

// unescapeText undoes RFC 6350 3.4's escapes: \n, \N, \, \; and \\.
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

func comp(p []string, i int) string {
	if i < len(p) {
		return strings.TrimSpace(p[i])
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// primary picks the most preferred value (the lowest PREF; TYPE=pref is 1),
// else the first, and returns it and the others in file order.
func primary(vals []vcValue) (vcValue, []vcValue, bool) {
	var nonEmpty []vcValue
	for _, v := range vals {
		if joinNonEmpty("", v.parts...) != "" {
			nonEmpty = append(nonEmpty, v)
		}
	}
	if len(nonEmpty) == 0 {
		return vcValue{}, nil, false
	}
	best := 0
	for i, v := range nonEmpty {
		if v.pref > 0 && (nonEmpty[best].pref == 0 || v.pref < nonEmpty[best].pref) {
			best = i
		}
	}
	others := append(append([]vcValue{}, nonEmpty[:best]...), nonEmpty[best+1:]...)
	return nonEmpty[best], others, true
}

// oneLine is an address on one line: street, city, region, postal code,
// country.
func oneLine(adr []string) string {
	return joinNonEmpty(", ", street(adr), comp(adr, 3), comp(adr, 4), comp(adr, 5), comp(adr, 6))
}

// street is ADR's street address with its extended address and PO box.
func street(adr []string) string {
	return joinNonEmpty(", ", comp(adr, 2), comp(adr, 1), comp(adr, 0))
}

func (c *vcard) fields() []field {
	var fs []field
	set := func(k, v string) {
		if v != "" {
			fs = append(fs, field{key: k, value: v})
		}
	}
	name := c.fn
	if name == "" {
		name = joinNonEmpty(" ", comp(c.n, 3), comp(c.n, 1), comp(c.n, 2), comp(c.n, 0), comp(c.n, 4))
	}
	set(vcName, name)
	set(vcFamily, comp(c.n, 0))
	set(vcGiven, comp(c.n, 1))
	set(vcAdditional, comp(c.n, 2))
	set(vcPrefix, comp(c.n, 3))
	set(vcSuffix, comp(c.n, 4))
	if e, others, ok := primary(c.emails); ok {
		set(vcEmail, e.parts[0])
		set(vcOtherEmails, joinValues(others, func(v vcValue) string { return v.parts[0] }))
	}
	if t, others, ok := primary(c.tels); ok {
		set(vcPhone, t.parts[0])
		set(vcPhoneType, strings.Join(t.types, ","))
		set(vcOtherPhones, joinValues(others, func(v vcValue) string { return v.parts[0] }))
	}
	set(vcCompany, comp(c.org, 0))
	if len(c.org) > 1 {
		set(vcDepartment, joinNonEmpty(" / ", c.org[1:]...))
	}
	set(vcTitle, c.title)
	if a, others, ok := primary(c.adrs); ok {
		set(vcAddress, oneLine(a.parts))
		set(vcStreet, street(a.parts))
		set(vcCity, comp(a.parts, 3))
		set(vcRegion, comp(a.parts, 4))
		set(vcPostalCode, comp(a.parts, 5))
		set(vcCountry, comp(a.parts, 6))
		set(vcAddressType, strings.Join(a.types, ","))
		set(vcOtherAddrs, joinValues(others, func(v vcValue) string { return oneLine(v.parts) }))
	}
	set(vcNote, joinNonEmpty("\n", c.notes...))
	set(vcBirthday, c.bday)
	return fs
}

func joinValues(vals []vcValue, text func(vcValue) string) string {
	var out []string
	for _, v := range vals {
		if t := text(v); t != "" {
			out = append(out, t)
		}
	}
	return strings.Join(out, MultiValueSeparator)
}
