package filereader

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkTextFormats reads 100k contacts from a JSON array (with a nested
// object), NDJSON and vCard 3, reporting rows/s and the peak heap: the
// look-ahead holds 1,000 rows, the rest stream.
func BenchmarkTextFormats(b *testing.B) {
	files := map[string][]byte{}
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i := range benchRows {
		if i > 0 {
			buf.WriteString(",\n")
		}
		fmt.Fprintf(&buf, `{"name": "Person %d", "email": "user%d@example.com", "phone": "+1 415 555 %04d", "company": {"name": "Company %d, Inc.", "city": "Town"}}`, i, i, i%10000, i%97)
	}
	buf.WriteString("\n]\n")
	files["json"] = bytes.Clone(buf.Bytes())
	buf.Reset()
	for i := range benchRows {
		fmt.Fprintf(&buf, `{"name": "Person %d", "email": "user%d@example.com", "phone": "+1 415 555 %04d", "company": {"name": "Company %d, Inc.", "city": "Town"}}`+"\n", i, i, i%10000, i%97)
	}
	files["ndjson"] = bytes.Clone(buf.Bytes())
	buf.Reset()
	for i := range benchRows {
		fmt.Fprintf(&buf, "BEGIN:VCARD\r\nVERSION:3.0\r\nN:%d;Person;;;\r\nFN:Person %d\r\nEMAIL;TYPE=INTERNET:user%d@example.com\r\nTEL;TYPE=CELL:+1 415 555 %04d\r\nORG:Company %d\\, Inc.\r\nEND:VCARD\r\n", i, i, i, i%10000, i%97)
	}
	files["vcard"] = bytes.Clone(buf.Bytes())
	for _, name := range []string{"json", "ndjson", "vcard"} {
		b.Run(name, func(b *testing.B) { benchReadBytes(b, files[name]) })
	}
}
