package schema

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// normalize checks one non-empty cell against its field and returns the
// stored value. Messages quote the value so a person can find and fix it.
func normalize(f *Field, raw string) (any, error) {
	if f.MaxLength > 0 && utf8.RuneCountInString(raw) > f.MaxLength {
		return nil, fmt.Errorf("%s: longer than %d characters", f.Name, f.MaxLength)
	}
	switch f.Type {
	case TypeEmail:
		return normalizeEmail(f.Name, raw)
	case TypePhone:
		return normalizePhone(f, raw)
	case TypeEnum:
		for _, v := range f.Values {
			if strings.EqualFold(v, raw) {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%s: %s is not one of %s", f.Name, quote(raw), strings.Join(f.Values, ", "))
	default:
		return raw, nil
	}
}

func normalizeEmail(name, raw string) (string, error) {
	bad := fmt.Errorf("%s: %s is not a valid email address", name, quote(raw))
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Name != "" || addr.Address != raw {
		return "", bad
	}
	at := strings.LastIndexByte(raw, '@')
	domain := raw[at+1:]
	if at < 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", bad
	}
	return strings.ToLower(raw), nil
}

func normalizePhone(f *Field, raw string) (string, error) {
	region := f.Region
	if region == "" {
		region = "US"
	}
	num, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%s: %s is not a valid phone number", f.Name, quote(raw))
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// quote shows a value in a message, shortened if long.
func quote(v string) string {
	if utf8.RuneCountInString(v) > 60 {
		r := []rune(v)
		v = string(r[:57]) + "..."
	}
	return "'" + v + "'"
}
