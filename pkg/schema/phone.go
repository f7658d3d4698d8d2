package schema

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Phone numbers are parsed and validated with the metadata of
// github.com/nyaruka/phonenumbers (libphonenumber) and normalised to E.164.
//
// The library's Parse + IsValidNumber cost about 12µs per number, mostly in
// regular expressions it rebuilds per call (pattern strings are concatenated
// and looked up in a locked cache on every check) and in its extension
// matcher, which dominates validation of a contacts row. fastPhone is a
// faithful re-implementation of the library's parse and validity rules for
// the common inputs — an optional leading "+", digits, and the separators
// space - . ( ) / — over the same metadata, with the patterns compiled once
// per region. Everything else (letters, extensions, IDD prefixes such as
// "011", national-prefix transform rules, non-geographic codes, ...) goes to
// the library itself, so results do not depend on which path ran; a
// differential test compares both paths on many generated numbers.

// regionNone as a field's region means "no default region": numbers must
// be written with + and the country code.
const regionNone = "ZZ"

func knownRegion(r string) bool { return phonenumbers.GetSupportedRegions()[r] }

// normalizePhone returns the E.164 form of raw, or a message.
func normalizePhone(f *Field, raw string) (string, string) {
	region := f.Region
	if region == "" {
		region = "US"
	}
	if e164, valid, handled := fastPhone(raw, region); handled {
		if valid {
			return e164, ""
		}
	} else if e164, ok := libraryPhone(raw, region); ok {
		return e164, ""
	}
	if f.Lenient && phoneText(raw) {
		return strings.Join(strings.Fields(raw), " "), ""
	}
	msg := quote(raw) + " is not a valid phone number"
	switch {
	case region == regionNone:
		msg += " (write it in international format with + and the country code, e.g. +14155552671)"
	case !strings.HasPrefix(raw, "+"):
		msg += " (include the area code; numbers outside " + region + " need + and the country code)"
	}
	return "", msg
}

// libraryPhone is the reference path: the library's own Parse and
// IsValidNumber.
func libraryPhone(raw, region string) (string, bool) {
	num, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// phoneText reports whether s looks like a phone number a person wrote
// (digits with + ( ) - . / spaces and at least three digits), for lenient
// fields.
func phoneText(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' || c == '(' || c == ')' || c == '-' || c == '.' || c == '/' || c == ' ' || c == '\t':
		default:
			return false
		}
	}
	return digits >= 3 && digits <= 20
}

// Validation results of the library's testNumberLength.
const (
	isPossible = iota
	isPossibleLocalOnly
	tooShort
	tooLong
	invalidLength
)

// phoneDesc is a compiled PhoneNumberDesc.
type phoneDesc struct {
	lengths []int32
	re      *regexp.Regexp // anchored national number pattern; nil: matches nothing
}

func newPhoneDesc(d *phonenumbers.PhoneNumberDesc) phoneDesc {
	if d == nil {
		return phoneDesc{lengths: []int32{-1}}
	}
	pd := phoneDesc{lengths: d.PossibleLength}
	if p := d.GetNationalNumberPattern(); p != "" {
		pd.re = regexp.MustCompile("^(?:" + p + ")$")
	}
	return pd
}

// matches is the library's isNumberMatchingDesc.
func (d *phoneDesc) matches(nsn string) bool {
	if len(d.lengths) > 0 {
		found := false
		for _, l := range d.lengths {
			if int(l) == len(nsn) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return d.re != nil && d.re.MatchString(nsn)
}

// phoneRegion is the compiled metadata of one region (or non-geographic
// calling code).
type phoneRegion struct {
	cc        int
	ccStr     string
	general   phoneDesc
	generalRe *regexp.Regexp // anchored general pattern (no length check), as the library's "national number rule"
	types     []phoneDesc    // any match means valid (after general)
	leading   *regexp.Regexp // leading digits, anchored at the start; nil if none
	iddAll    bool           // the international prefix is empty: every number might be IDD
	idd       *regexp.Regexp // international prefix anchored at the start
	npp       *regexp.Regexp // national prefix for parsing anchored at the start; nil if none
	transform string
	lengths   []int32 // general possible lengths
	local     []int32 // general local-only lengths
}

var (
	phoneOnce     sync.Once
	phoneMetaByID map[string]*phonenumbers.PhoneMetadata
	phoneNonGeo   map[int]*phonenumbers.PhoneMetadata
	phoneCache    sync.Map // region id or "001/<cc>" -> *phoneRegion
)

func loadPhoneMetadata() {
	phoneMetaByID = map[string]*phonenumbers.PhoneMetadata{}
	phoneNonGeo = map[int]*phonenumbers.PhoneMetadata{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return // every number then goes to the library
	}
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "001" {
			phoneNonGeo[int(m.GetCountryCode())] = m
		} else {
			phoneMetaByID[m.GetId()] = m
		}
	}
}

// regionMeta returns the compiled metadata of a supported region, or nil.
func regionMeta(region string) *phoneRegion {
	if v, ok := phoneCache.Load(region); ok {
		return v.(*phoneRegion)
	}
	phoneOnce.Do(loadPhoneMetadata)
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil
	}
	m := phoneMetaByID[region]
	if m == nil {
		return nil
	}
	r := compilePhoneRegion(m)
	v, _ := phoneCache.LoadOrStore(region, r)
	return v.(*phoneRegion)
}

// nonGeoMeta returns the compiled metadata of a non-geographic calling code.
func nonGeoMeta(cc int) *phoneRegion {
	key := "001/" + strconv.Itoa(cc)
	if v, ok := phoneCache.Load(key); ok {
		return v.(*phoneRegion)
	}
	phoneOnce.Do(loadPhoneMetadata)
	m := phoneNonGeo[cc]
	if m == nil {
		return nil
	}
	v, _ := phoneCache.LoadOrStore(key, compilePhoneRegion(m))
	return v.(*phoneRegion)
}

func compilePhoneRegion(m *phonenumbers.PhoneMetadata) *phoneRegion {
	r := &phoneRegion{
		cc:        int(m.GetCountryCode()),
		general:   newPhoneDesc(m.GetGeneralDesc()),
		transform: m.GetNationalPrefixTransformRule(),
	}
	r.ccStr = strconv.Itoa(r.cc)
	r.generalRe = regexp.MustCompile("^(?:" + m.GetGeneralDesc().GetNationalNumberPattern() + ")$")
	if gd := m.GetGeneralDesc(); gd != nil {
		r.lengths, r.local = gd.PossibleLength, gd.PossibleLengthLocalOnly
	}
	r.types = append(r.types, newPhoneDesc(m.GetFixedLine()))
	if !m.GetSameMobileAndFixedLinePattern() {
		r.types = append(r.types, newPhoneDesc(m.GetMobile()))
	}
	for _, d := range []*phonenumbers.PhoneNumberDesc{
		m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(),
	} {
		r.types = append(r.types, newPhoneDesc(d))
	}
	if ld := m.GetLeadingDigits(); ld != "" {
		r.leading = regexp.MustCompile("^(?:" + ld + ")")
	}
	if ip := m.GetInternationalPrefix(); ip == "" {
		r.iddAll = true
	} else {
		r.idd = regexp.MustCompile("^(?:" + ip + ")")
	}
	if np := m.GetNationalPrefixForParsing(); np != "" {
		r.npp = regexp.MustCompile("^(?:" + np + ")")
	}
	return r
}

// validType is the library's getNumberTypeHelper(...) != UNKNOWN.
func (r *phoneRegion) validType(nsn string) bool {
	if !r.general.matches(nsn) {
		return false
	}
	for i := range r.types {
		if r.types[i].matches(nsn) {
			return true
		}
	}
	return false
}

// testLength is the library's testNumberLength for the general description.
func (r *phoneRegion) testLength(number string) int {
	pl := r.lengths
	if len(pl) == 0 || pl[0] == -1 {
		return invalidLength
	}
	n := int32(len(number))
	for _, l := range r.local {
		if l == n {
			return isPossibleLocalOnly
		}
	}
	switch {
	case pl[0] == n:
		return isPossible
	case pl[0] > n:
		return tooShort
	case pl[len(pl)-1] < n:
		return tooLong
	}
	for _, l := range pl[1:] {
		if l == n {
			return isPossible
		}
	}
	return invalidLength
}

// stripNationalPrefix is the library's maybeStripNationalPrefixAndCarrierCode
// without transform rules: ok is false when a transform rule would apply
// (the caller then falls back to the library).
func (r *phoneRegion) stripNationalPrefix(number string) (string, bool) {
	if number == "" || r.npp == nil {
		return number, true
	}
	groups := r.npp.FindStringSubmatchIndex(number)
	if groups == nil {
		return number, true
	}
	numGroups := len(groups)/2 - 1
	if r.transform != "" && groups[numGroups*2] >= 0 {
		return number, false
	}
	if r.generalRe.MatchString(number) && !r.generalRe.MatchString(number[groups[1]:]) {
		return number, true
	}
	return number[groups[1]:], true
}

// fastPhone parses and validates raw like phonenumbers.Parse(raw, region)
// followed by IsValidNumber and Format(E164). handled is false when raw is
// outside what it reproduces; the caller then asks the library.
func fastPhone(raw, region string) (e164 string, valid, handled bool) {
	if len(raw) > 250 {
		return "", false, false
	}
	var buf [24]byte
	d := buf[:0]
	plus := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= '0' && c <= '9':
			if len(d) == cap(d) {
				return "", false, false
			}
			d = append(d, c)
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "", false, false
		}
	}
	if len(d) < 3 {
		return "", false, false
	}
	digits := string(d)
	def := regionMeta(region)

	cc := 0
	national := digits
	var meta *phoneRegion
	if plus {
		if digits[0] == '0' {
			return "", false, false
		}
		for i := 1; i <= 3 && i < len(digits); i++ {
			n, _ := strconv.Atoi(digits[:i])
			if len(phonenumbers.GetRegionCodesForCountryCode(n)) > 0 {
				cc, national = n, digits[i:]
				break
			}
		}
		if cc == 0 {
			return "", false, false
		}
	} else {
		if def == nil {
			return "", false, true // no region to read a national number in
		}
		if def.iddAll || def.idd.MatchString(digits) {
			return "", false, false
		}
		if strings.HasPrefix(digits, def.ccStr) {
			potential, ok := def.stripNationalPrefix(digits[len(def.ccStr):])
			if !ok {
				return "", false, false
			}
			fullValid := def.generalRe.MatchString(digits)
			nationalValid := def.generalRe.MatchString(potential)
			if (!fullValid && nationalValid) || def.testLength(digits) == tooLong {
				cc, national = def.cc, potential
			}
		}
	}
	if cc != 0 {
		main := phonenumbers.GetRegionCodeForCountryCode(cc)
		if main == "001" {
			return "", false, false
		}
		if main == region {
			meta = def
		} else {
			meta = regionMeta(main)
		}
		if meta == nil {
			return "", false, false
		}
	} else {
		cc, meta = def.cc, def
	}
	if len(national) < 2 {
		return "", false, true
	}
	potential, ok := meta.stripNationalPrefix(national)
	if !ok {
		return "", false, false
	}
	if r := meta.testLength(potential); r != tooShort && r != isPossibleLocalOnly && r != invalidLength {
		national = potential
	}
	if len(national) < 2 || len(national) > 17 {
		return "", false, true
	}
	if !validNumber(cc, national) {
		return "", false, true
	}
	return "+" + strconv.Itoa(cc) + national, true, true
}

// validNumber is the library's IsValidNumber for a country calling code and
// a national significant number.
func validNumber(cc int, nsn string) bool {
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	region := ""
	switch len(regions) {
	case 0:
		return false
	case 1:
		region = regions[0]
	default:
		for _, rc := range regions {
			m := regionMeta(rc)
			if m == nil {
				continue
			}
			if m.leading != nil {
				if m.leading.MatchString(nsn) {
					region = rc
					break
				}
			} else if m.validType(nsn) {
				region = rc
				break
			}
		}
	}
	var m *phoneRegion
	switch region {
	case "":
		return false
	case "001":
		m = nonGeoMeta(cc)
	default:
		m = regionMeta(region)
		if m != nil && m.cc != cc {
			return false
		}
	}
	return m != nil && m.validType(nsn)
}
