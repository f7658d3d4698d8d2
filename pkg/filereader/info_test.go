package filereader

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Info
	}{
		{"UTF-8 with a BOM", "\ufeffname,email\nAnn,a@x\n", Info{Format: FormatCSV, Encoding: EncodingUTF8, Delimiter: ",", HeaderRow: 1}},
		{"Windows-1252 semicolons", "name;city\nM\xfcller;K\xf6ln\n", Info{Format: FormatCSV, Encoding: EncodingWindows1252, Delimiter: ";", HeaderRow: 1}},
		{"UTF-16 tabs", string(utf16Bytes("\ufeffname\tcity\r\nAnn\tX\r\n", false)), Info{Format: FormatCSV, Encoding: EncodingUTF16LE, Delimiter: "\t", HeaderRow: 1}},
		{"after a preamble", linkedInPreamble + "a,b\n1,2\n", Info{Format: FormatCSV, Encoding: EncodingUTF8, Delimiter: ",", HeaderRow: 4}},
		{"NDJSON", "{\"a\": 1}\n", Info{Format: FormatNDJSON, Encoding: EncodingUTF8}},
	}
	for _, tc := range cases {
		rd, cleanup, err := Open(strings.NewReader(tc.in), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := Describe(rd); got != tc.want {
			t.Errorf("%s: Describe = %+v, want %+v", tc.name, got, tc.want)
		}
		_ = cleanup()
	}
}
