package schema

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestFastPhoneMatchesLibrary compares the fast path with the library's
// Parse + IsValidNumber + Format(E164) on numbers of every region, written
// in several ways and mutated, read with several default regions.
func TestFastPhoneMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var regions []string
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER,
		phonenumbers.UAN, phonenumbers.VOICEMAIL,
	}
	mutate := func(s string) []string {
		d := []byte(s)
		out := []string{s}
		if len(d) > 4 {
			out = append(out, s[:len(s)-1], s+"7")
			i := len(d) - 1 - rng.Intn(3)
			if d[i] >= '0' && d[i] <= '9' {
				c := append([]byte(nil), d...)
				c[i] = byte('0' + (int(c[i]-'0')+1+rng.Intn(8))%10)
				out = append(out, string(c))
			}
		}
		return out
	}
	compared, handled, valid := 0, 0, 0
	check := func(in, region string) {
		compared++
		want, wantOK := libraryPhone(in, region)
		got, ok, h := fastPhone(in, region)
		if !h {
			return
		}
		handled++
		if ok {
			valid++
		}
		if ok != wantOK || got != want {
			t.Errorf("fastPhone(%q, %s) = %q, %v; library: %q, %v", in, region, got, ok, want, wantOK)
		}
	}
	for _, r := range regions {
		defaults := []string{r, "US", "GB", regionNone, regions[rng.Intn(len(regions))]}
		for _, typ := range types {
			num := phonenumbers.GetExampleNumberForType(r, typ)
			if num == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(num)
			cc := fmt.Sprint(num.GetCountryCode())
			writings := []string{
				phonenumbers.Format(num, phonenumbers.E164),
				phonenumbers.Format(num, phonenumbers.INTERNATIONAL),
				phonenumbers.Format(num, phonenumbers.NATIONAL),
				nsn,
				cc + nsn,
				"0" + nsn,
				"00" + cc + " " + nsn,
				"+" + cc + " 0" + nsn,
				"(" + nsn[:min(3, len(nsn))] + ") " + nsn[min(3, len(nsn)):],
			}
			for _, w := range writings {
				for _, m := range mutate(w) {
					for _, d := range defaults {
						check(m, d)
					}
				}
			}
		}
	}
	// Random digit strings, with and without +.
	for i := 0; i < 20000; i++ {
		n := 3 + rng.Intn(15)
		var b strings.Builder
		if rng.Intn(2) == 0 {
			b.WriteByte('+')
		}
		for j := 0; j < n; j++ {
			b.WriteByte(byte('0' + rng.Intn(10)))
			if rng.Intn(6) == 0 {
				b.WriteByte(" -.()/"[rng.Intn(6)])
			}
		}
		check(b.String(), regions[rng.Intn(len(regions))])
	}
	t.Logf("compared %d inputs: fast path handled %d (%d valid), the rest went to the library", compared, handled, valid)
	if handled < compared/2 {
		t.Errorf("fast path handled only %d of %d inputs", handled, compared)
	}
}

func TestPhoneFields(t *testing.T) {
	us := &Field{Name: "phone", Type: TypePhone}
	intl := &Field{Name: "phone", Type: TypePhone, Region: regionNone}
	gb := &Field{Name: "phone", Type: TypePhone, Region: "GB"}
	lenient := &Field{Name: "cellphone", Type: TypePhone, Lenient: true}
	for _, f := range []*Field{us, intl, gb, lenient} {
		if err := f.compile(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		f        *Field
		in, want string
		msg      string
	}{
		{us, "(201) 555-0123", "+12015550123", ""},
		{us, "1-415-555-2671", "+14155552671", ""},
		{us, "+44 20 7946 0958", "+442079460958", ""},
		{us, "011 44 20 7946 0958", "+442079460958", ""}, // IDD: library path
		{us, "415.555.2671 ext. 12", "+14155552671", ""}, // extension: library path (E.164 drops it)
		{gb, "020 7946 0958", "+442079460958", ""},
		{intl, "+49 30 901820", "+4930901820", ""},
		{intl, "030 901820", "", "phone: '030 901820' is not a valid phone number (write it in international format with + and the country code, e.g. +14155552671)"},
		{us, "555-1234", "", "phone: '555-1234' is not a valid phone number (include the area code; numbers outside US need + and the country code)"},
		{us, "+999 1234", "", "phone: '+999 1234' is not a valid phone number"},
		{lenient, "555-1234", "555-1234", ""},
		{lenient, "+1  (415) 555-2671", "+14155552671", ""},
		{lenient, "x200", "", "cellphone: 'x200' is not a valid phone number (include the area code; numbers outside US need + and the country code)"},
	}
	for _, c := range cases {
		var errs []FieldError
		v, ok := c.f.parse(c.in, &errs)
		var msg string
		if len(errs) > 0 {
			msg = errs[0].Message
		}
		if c.msg != "" {
			if ok || msg != c.msg {
				t.Errorf("%q (region %q): got %v, %q; want error %q", c.in, c.f.Region, v, msg, c.msg)
			}
			continue
		}
		if !ok || v != c.want {
			t.Errorf("%q (region %q): got %v, %q; want %q", c.in, c.f.Region, v, msg, c.want)
		}
	}
}
