package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// compile checks a field's options and prepares it for validation.
func (f *Field) compile() error {
	c := &compiled{}
	f.c = c
	stringLike := false
	switch f.Type {
	case TypeString, TypeEmail, TypePhone:
		stringLike = true
	case TypeEnum:
		stringLike = true
		if len(f.Values) == 0 {
			return fmt.Errorf("enum field has no values")
		}
	case TypeDate:
		dates, hint, err := compileDateFormats(f.Formats)
		if err != nil {
			return err
		}
		c.dates, c.dateHint = dates, hint
	case TypeBool, TypeInt, TypeDecimal, TypeJSON:
	case TypeList:
		stringLike = true
		c.itemType = f.ItemType
		if c.itemType == "" {
			c.itemType = TypeString
		}
		switch c.itemType {
		case TypeString, TypeEmail, TypePhone:
		case TypeEnum:
			if len(f.Values) == 0 {
				return fmt.Errorf("list of enum items has no values")
			}
		default:
			return fmt.Errorf("item_type %q: want string, email, phone or enum", f.ItemType)
		}
		c.separator = f.Separator
		if c.separator == "" {
			c.separator = ","
		}
	case "":
		return fmt.Errorf("no type")
	default:
		return fmt.Errorf("unknown type %q", f.Type)
	}
	phoneLike := f.Type == TypePhone || (f.Type == TypeList && c.itemType == TypePhone)
	enumLike := f.Type == TypeEnum || (f.Type == TypeList && c.itemType == TypeEnum)
	if len(f.Formats) > 0 && f.Type != TypeDate {
		return fmt.Errorf("formats apply to date fields only")
	}
	if (f.Separator != "" || f.ItemType != "" || f.MaxItems != 0) && f.Type != TypeList {
		return fmt.Errorf("separator, item_type and max_items apply to list fields only")
	}
	if f.Scale != 0 && f.Type != TypeDecimal {
		return fmt.Errorf("scale applies to decimal fields only")
	}
	if f.Scale < 0 || f.Scale > 30 {
		return fmt.Errorf("scale %d: want 1 to 30", f.Scale)
	}
	if f.ObjectValues && f.Type != TypeJSON {
		return fmt.Errorf("object_values applies to json fields only")
	}
	if (f.Region != "" || f.Lenient) && !phoneLike {
		return fmt.Errorf("region and lenient apply to phone fields (and lists of phones) only")
	}
	if f.Region != "" && f.Region != regionNone && !knownRegion(f.Region) {
		return fmt.Errorf("region %q is not a known region code (e.g. US, GB; ZZ for none)", f.Region)
	}
	if len(f.Values) > 0 && !enumLike {
		return fmt.Errorf("values apply to enum fields (and lists of enum items) only")
	}
	if enumLike {
		c.enum = make(map[string]string, len(f.Values))
		for _, v := range f.Values {
			k := strings.ToLower(strings.TrimSpace(v))
			if k == "" || k != strings.ToLower(v) {
				return fmt.Errorf("enum value %q: empty or with surrounding spaces", v)
			}
			if _, dup := c.enum[k]; dup {
				return fmt.Errorf("enum value %q listed twice (values match case-insensitively)", v)
			}
			c.enum[k] = v
		}
	}
	if f.MinLength < 0 || f.MaxLength < 0 || f.MaxItems < 0 {
		return fmt.Errorf("min_length, max_length and max_items may not be negative")
	}
	if f.MinLength > 0 && f.MaxLength > 0 && f.MinLength > f.MaxLength {
		return fmt.Errorf("min_length %d is above max_length %d", f.MinLength, f.MaxLength)
	}
	if (f.MinLength > 0 || f.Pattern != "") && !stringLike {
		return fmt.Errorf("min_length and pattern apply to string, email, phone, enum and list fields only")
	}
	if f.MaxItems > MaxItemsLimit {
		return fmt.Errorf("max_items %d: at most %d", f.MaxItems, MaxItemsLimit)
	}
	if f.MinLength > MaxCellBytes || f.MaxLength > MaxCellBytes {
		return fmt.Errorf("min_length and max_length may not be above %d, the longest cell read", MaxCellBytes)
	}
	if f.Pattern != "" {
		re, insts, err := compilePattern(f.Pattern)
		if err != nil {
			return err
		}
		c.pattern, c.patternInsts = re, insts
	}
	if f.Example != "" {
		var errs []FieldError
		if _, ok := f.parse(strings.TrimSpace(f.Example), &errs); !ok {
			return fmt.Errorf("example %q is not valid: %s", f.Example, errs[0].Message)
		}
	}
	if len(f.Default) > 0 {
		if err := f.compileDefault(); err != nil {
			return fmt.Errorf("default: %w", err)
		}
	}
	return nil
}

// compileDefault turns the JSON default into the value Validate stores.
func (f *Field) compileDefault() error {
	c := f.c
	var v any
	dec := json.NewDecoder(bytes.NewReader(f.Default))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var cell string
	switch d := v.(type) {
	case nil:
		return nil // "default": null is no default
	case string:
		if f.Type == TypeDate && d == DefaultToday {
			c.defToday, c.hasDefault = true, true
			return nil
		}
		cell = d
	case json.Number:
		cell = d.String()
	case bool:
		cell = strconv.FormatBool(d)
	case []any:
		if f.Type != TypeList {
			return fmt.Errorf("an array is a default for list fields only")
		}
		parts := make([]string, len(d))
		for i, it := range d {
			s, ok := it.(string)
			if !ok || strings.Contains(s, c.separator) {
				return fmt.Errorf("list default items must be strings without the separator %q", c.separator)
			}
			parts[i] = s
		}
		cell = strings.Join(parts, c.separator)
	case map[string]any:
		if f.Type != TypeJSON {
			return fmt.Errorf("an object is a default for json fields only")
		}
		cell = string(f.Default)
	}
	var errs []FieldError
	val, ok := f.parse(strings.TrimSpace(cell), &errs)
	if !ok {
		return errors.New(errs[0].Message)
	}
	if val == nil {
		return nil
	}
	c.defValue, c.hasDefault = val, true
	return nil
}

// parse checks one non-empty, trimmed cell against its field. It returns
// the stored value (nil: nothing to store) and whether the cell is
// acceptable; problems are appended to errs, each naming the field and
// quoting the value so a person can find and fix it.
func (f *Field) parse(raw string, errs *[]FieldError) (any, bool) {
	fail := func(format string, args ...any) (any, bool) {
		*errs = append(*errs, FieldError{Field: f.Name, Message: f.Name + ": " + fmt.Sprintf(format, args...)})
		return nil, false
	}
	if f.Type == TypeList {
		return f.parseList(raw, errs)
	}
	if f.MaxLength > 0 && len(raw) > f.MaxLength && utf8.RuneCountInString(raw) > f.MaxLength {
		return fail("%s is longer than %d characters", quote(raw), f.MaxLength)
	}
	switch f.Type {
	case TypeString, TypeEmail, TypePhone, TypeEnum:
		v, msg := f.parseText(f.Type, raw)
		if msg != "" {
			return fail("%s", msg)
		}
		return v, true
	case TypeDate:
		v, ok := parseDate(f.c.dates, raw)
		if !ok {
			return fail("%s is not a date (expected e.g. %s)", quote(raw), f.c.dateHint)
		}
		return v, true
	case TypeBool:
		v, ok := parseBool(raw)
		if !ok {
			return fail("%s is not true or false (use true/false, yes/no, y/n or 1/0)", quote(raw))
		}
		return v, true
	case TypeInt:
		v, msg := parseInt(raw)
		if msg != "" {
			return fail("%s %s", quote(raw), msg)
		}
		return v, true
	case TypeDecimal:
		v, msg := parseDecimal(raw, f.Scale)
		if msg != "" {
			return fail("%s %s", quote(raw), msg)
		}
		return v, true
	case TypeJSON:
		v, msg := f.parseJSON(raw)
		if msg != "" {
			return fail("%s", msg)
		}
		return v, true
	}
	return fail("unsupported type %q", f.Type)
}

// parseText checks a string-like value (a cell, or one item of a list) of
// type typ and applies min_length and pattern to the normalised value. It
// returns the value or a message (without the field name).
func (f *Field) parseText(typ, raw string) (string, string) {
	var v string
	switch typ {
	case TypeEmail:
		if r, ok := hiddenRune(raw); ok {
			return "", fmt.Sprintf("%s is not a valid email address: it contains the invisible character %U", quote(raw), r)
		}
		e, ok := normalizeEmail(raw)
		if !ok {
			return "", quote(raw) + " is not a valid email address"
		}
		v = e
	case TypePhone:
		p, msg := normalizePhone(f, raw)
		if msg != "" {
			return "", msg
		}
		v = p
	case TypeEnum:
		e, ok := f.c.enum[strings.ToLower(raw)]
		if !ok {
			return "", quote(raw) + " is not one of " + listValues(f.Values)
		}
		v = e
	default:
		if r, ok := controlRune(raw); ok {
			return "", fmt.Sprintf("%s contains the control character %U", quote(raw), r)
		}
		v = raw
	}
	if f.MinLength > 0 && utf8.RuneCountInString(v) < f.MinLength {
		return "", fmt.Sprintf("%s is shorter than %d characters", quote(raw), f.MinLength)
	}
	if f.c.pattern != nil && !f.c.pattern.MatchString(v) {
		if f.Example != "" {
			return "", fmt.Sprintf("%s does not have the expected form (e.g. %s)", quote(raw), f.exampleItem())
		}
		return "", fmt.Sprintf("%s does not have the expected form (pattern %s)", quote(raw), f.Pattern)
	}
	return v, ""
}

// exampleItem is the first item of a list field's example, else the example.
func (f *Field) exampleItem() string {
	if f.Type == TypeList {
		first, _, _ := strings.Cut(f.Example, f.c.separator)
		return strings.TrimSpace(first)
	}
	return f.Example
}

// listValues shows the allowed values of an enum, shortened if many.
func listValues(values []string) string {
	if len(values) <= 12 {
		return strings.Join(values, ", ")
	}
	return strings.Join(values[:12], ", ") + fmt.Sprintf(", ... (%d values)", len(values))
}

// parseList splits a list cell, drops empty items and duplicates, and
// checks every item; each bad item is its own problem. A cell with more
// (non-empty) items than max_items fails before any item is parsed.
func (f *Field) parseList(raw string, errs *[]FieldError) (any, bool) {
	c := f.c
	n := 0
	for it := range strings.SplitSeq(raw, c.separator) {
		if strings.TrimSpace(it) != "" {
			n++
		}
	}
	if limit := f.maxItems(); n > limit {
		*errs = append(*errs, FieldError{Field: f.Name, Code: CodeTooManyItems,
			Message: fmt.Sprintf("%s: %s has %d items, at most %d allowed", f.Name, quote(raw), n, limit)})
		return nil, false
	}
	out := make([]string, 0, n)
	ok := true
	for it := range strings.SplitSeq(raw, c.separator) {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if f.MaxLength > 0 && len(it) > f.MaxLength && utf8.RuneCountInString(it) > f.MaxLength {
			*errs = append(*errs, FieldError{Field: f.Name, Message: fmt.Sprintf("%s: %s is longer than %d characters", f.Name, quote(it), f.MaxLength)})
			ok = false
			continue
		}
		v, msg := f.parseText(c.itemType, it)
		if msg != "" {
			*errs = append(*errs, FieldError{Field: f.Name, Message: f.Name + ": " + msg})
			ok = false
			continue
		}
		dup := false
		for _, o := range out {
			if o == v {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	if !ok {
		return nil, false
	}
	if len(out) == 0 {
		return nil, true
	}
	return out, true
}

// normalizeEmail accepts a bare address (no display name, no comments)
// whose domain has a dot, and lower-cases it. Plain ASCII addresses are
// checked by a fast path that accepts a subset of what net/mail accepts;
// anything else goes through net/mail.
func normalizeEmail(raw string) (string, bool) {
	if simpleEmail(raw) {
		return strings.ToLower(raw), true
	}
	return netMailEmail(raw)
}

// netMailEmail is normalizeEmail without the fast path.
func netMailEmail(raw string) (string, bool) {
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Name != "" || addr.Address != raw {
		return "", false
	}
	at := strings.LastIndexByte(raw, '@')
	if at < 1 {
		return "", false
	}
	domain := raw[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", false
	}
	return strings.ToLower(raw), true
}

// atext marks the ASCII characters of RFC 5322 atext.
var atext = func() (t [128]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-/=?^_`{|}~" {
		t[c] = true
	}
	return t
}()

// simpleEmail reports whether s is local@domain with both parts ASCII
// dot-atoms and a dot in the domain.
func simpleEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 1 || at == len(s)-1 {
		return false
	}
	return dotAtom(s[:at]) && dotAtom(s[at+1:]) && strings.IndexByte(s[at+1:], '.') > 0
}

func dotAtom(s string) bool {
	prevDot := true // no leading dot
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if prevDot {
				return false
			}
			prevDot = true
			continue
		}
		if c >= utf8.RuneSelf || !atext[c] {
			return false
		}
		prevDot = false
	}
	return !prevDot // no trailing dot
}

// Boolean words, lower-case.
var boolWords = map[string]bool{
	"true": true, "false": false, "yes": true, "no": false,
	"y": true, "n": false, "1": true, "0": false,
}

func parseBool(raw string) (bool, bool) {
	if v, ok := boolWords[raw]; ok {
		return v, true
	}
	v, ok := boolWords[strings.ToLower(raw)]
	return v, ok
}

// thousandsRe matches numbers written with thousands separators.
var thousandsRe = regexp.MustCompile(`^[+-]?\d{1,3}([,' _\x{a0}\x{202f}]\d{3})+(\.\d*)?$`)

// parseInt reads a whole number; "12.0" is accepted as 12. The message
// (empty when valid) follows the quoted value.
func parseInt(raw string) (int64, string) {
	if v, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return v, ""
	} else if errors.Is(err, strconv.ErrRange) {
		return 0, "is too large for a whole number (at most 19 digits)"
	}
	if thousandsRe.MatchString(raw) && !strings.Contains(raw, ".") {
		return 0, fmt.Sprintf("is not a whole number: write it without thousands separators (%s)", stripSeparators(raw))
	}
	if whole, frac, ok := strings.Cut(raw, "."); ok && frac != "" && strings.Trim(frac, "0") == "" {
		if v, err := strconv.ParseInt(whole, 10, 64); err == nil && whole != "" && whole != "+" && whole != "-" {
			return v, ""
		}
	}
	return 0, "is not a whole number"
}

func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ',', '\'', ' ', '_', '\u00a0', '\u202f':
			return -1
		}
		return r
	}, s)
}

// maxDecimalDigits bounds the digits of a decimal (after exponent expansion).
const maxDecimalDigits = 100

// parseDecimal reads a decimal number and returns it in canonical form: an
// optional "-", the integer digits without leading zeros (at least "0"),
// and, if the value was written with decimals, "." and the decimals as
// written (trailing zeros kept: "12.50" stays "12.50"), never an exponent
// ("1.5e3" -> "1500"). With scale > 0 the decimals are padded or trimmed
// to exactly scale places; more significant places are an error. "-0" is
// "0". The message (empty when valid) follows the quoted value.
func parseDecimal(raw string, scale int) (string, string) {
	bad := "is not a decimal number (write it like 1234.50: a point for decimals, no thousands separators)"
	s := raw
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return "", bad
		}
		if e > maxDecimalDigits || e < -maxDecimalDigits {
			return "", fmt.Sprintf("has more than %d digits", maxDecimalDigits)
		}
		exp = e
	}
	intPart, frac, hasPoint := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return "", bad
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return "", bad
			}
		}
	}
	// Shift the point by exp.
	digits := intPart + frac
	point := len(intPart) + exp
	places := len(frac) - exp
	if places < 0 {
		places = 0
	}
	if point < 0 {
		digits = strings.Repeat("0", -point) + digits
		point = 0
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	if len(digits) > maxDecimalDigits {
		return "", fmt.Sprintf("has more than %d digits", maxDecimalDigits)
	}
	ip := strings.TrimLeft(digits[:point], "0")
	if ip == "" {
		ip = "0"
	}
	fp := digits[point:]
	if len(fp) > places {
		fp = fp[:places]
	}
	if !hasPoint && exp == 0 {
		fp = ""
	}
	if scale > 0 {
		if len(fp) > scale {
			if strings.Trim(fp[scale:], "0") != "" {
				return "", fmt.Sprintf("has more than %d decimal places", scale)
			}
			fp = fp[:scale]
		}
		fp += strings.Repeat("0", scale-len(fp))
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, ""
}

// parseJSON reads a JSON object. Numbers become float64 (as for any JSON
// decoded by encoding/json); integers that a float64 cannot hold exactly
// are refused, as are keys MongoDB-compatible stores reject.
func (f *Field) parseJSON(raw string) (map[string]any, string) {
	if len(raw) > MaxCellBytes { // Validate refuses longer cells; defaults come here directly
		return nil, fmt.Sprintf("the JSON is larger than %d bytes", MaxCellBytes)
	}
	if d := jsonDepth(raw); d > MaxJSONDepth {
		return nil, fmt.Sprintf("the JSON is nested deeper than %d levels", MaxJSONDepth)
	}
	example := `{"key": "value"}`
	if f.Example != "" {
		example = f.Example
	}
	if raw[0] != '{' {
		return nil, fmt.Sprintf("%s is not a JSON object (expected e.g. %s)", quote(raw), example)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Sprintf("%s is not valid JSON: %s", quote(raw), jsonErrText(err))
	}
	if rest := strings.TrimSpace(raw[dec.InputOffset():]); rest != "" {
		return nil, fmt.Sprintf("%s is not valid JSON: unexpected text after the object", quote(raw))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Sprintf("%s is not a JSON object (expected e.g. %s)", quote(raw), example)
	}
	if msg := fixJSONValues(obj); msg != "" {
		return nil, msg
	}
	if f.ObjectValues {
		for k, val := range obj {
			if _, ok := val.(map[string]any); !ok {
				return nil, fmt.Sprintf("%s must map to an object of key/value pairs, not %s", quote(k), jsonKind(val))
			}
		}
	}
	return obj, ""
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at character %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "it ends too early (a missing } or \"?)"
	}
	return err.Error()
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a number"
}

// jsonDepth returns the deepest nesting of objects and arrays in s,
// stopping early once it passes MaxJSONDepth.
func jsonDepth(s string) int {
	depth, max := 0, 0
	inStr, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > max {
				max = depth
				if max > MaxJSONDepth {
					return max
				}
			}
		case '}', ']':
			depth--
		}
	}
	return max
}

// fixJSONValues turns json.Number into float64 in place and checks keys
// and numbers. It returns a message for the first problem.
func fixJSONValues(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "" || strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00") {
				return fmt.Sprintf("key %s is not allowed (keys may not be empty, start with $ or contain a dot)", quote(k))
			}
			f, msg := fixJSONValue(e)
			if msg != "" {
				return msg
			}
			v[k] = f
		}
	case []any:
		for i, e := range v {
			f, msg := fixJSONValue(e)
			if msg != "" {
				return msg
			}
			v[i] = f
		}
	}
	return ""
}

// fixJSONValue is fixJSONValues for one element of an object or array: it
// returns what the element becomes (a json.Number its float64).
func fixJSONValue(e any) (any, string) {
	if n, ok := e.(json.Number); ok {
		return jsonNumber(n)
	}
	return e, fixJSONValues(e)
}

func jsonNumber(n json.Number) (float64, string) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Sprintf("number %s is too large", n)
	}
	// From 2^53 on not every integer is a float64: 2^53+1 rounds to 2^53,
	// so the bound itself must be checked.
	if !strings.ContainsAny(string(n), ".eE") && math.Abs(f) >= 1<<53 {
		if i, err := strconv.ParseInt(string(n), 10, 64); err != nil || float64(i) != f || int64(f) != i {
			return 0, fmt.Sprintf("number %s cannot be stored exactly; write it as a string (\"%s\")", n, n)
		}
	}
	return f, ""
}

// deepCopyJSON copies a decoded JSON value.
func deepCopyJSON(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, e := range v {
		out[k] = copyJSONValue(e)
	}
	return out
}

func copyJSONValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopyJSON(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyJSONValue(e)
		}
		return out
	}
	return v
}

// hiddenRune returns the first character of s that cannot be seen or that
// changes how the text around it is shown: control characters, format
// characters (zero-width spaces and joiners, bidirectional overrides and
// isolates, the byte order mark, the soft hyphen), space and line
// separators other than the ASCII space, and U+FFFD (a byte that was not
// text). net/mail accepts all of them inside an address, where they make
// one address look like another (or like nothing) and become a different
// reconciliation key: "ann\u200b@example.com" would bypass deduplication
// against "ann@example.com".
func hiddenRune(s string) (rune, bool) {
	for _, r := range s {
		if r < utf8.RuneSelf {
			if r < 0x20 || r == 0x7f {
				return r, true
			}
			continue
		}
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp) {
			return r, true
		}
	}
	return 0, false
}

// controlRune returns the first control character of s other than tab,
// line feed and carriage return (which multi-line text such as an address
// holds): NUL, ESC, the other C0 controls, DEL and the C1 controls. Text
// fields refuse them: they are never part of a name or an address, a NUL
// cuts the value short for C-based readers, and ESC starts terminal escape
// sequences. Readers refuse a file with a NUL in its first bytes as
// binary; one further on, or one an XLSX cell encodes as _x0000_, reaches
// the validator.
func controlRune(s string) (rune, bool) {
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f) {
			return r, true
		}
	}
	return 0, false
}

// quote shows a value in a message, shortened if long. Characters that are
// not printable (control characters such as CR, LF and ESC, bidirectional
// overrides, zero-width characters) are shown escaped (\n, \x1b, \u202e),
// so a message read in a terminal, a log or a spreadsheet shows what the
// cell held and cannot carry terminal escape sequences, line breaks or
// reordering into it.
func quote(v string) string {
	if len(v) > 60 && utf8.RuneCountInString(v) > 60 {
		r := []rune(v)
		v = string(r[:57]) + "..."
	}
	if strings.IndexFunc(v, func(r rune) bool { return r != ' ' && !strconv.IsPrint(r) }) >= 0 {
		var b strings.Builder
		for _, r := range v {
			if r == ' ' || strconv.IsPrint(r) {
				b.WriteRune(r)
				continue
			}
			q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		v = b.String()
	}
	return "'" + v + "'"
}
