package filereader

import (
	"bufio"
	"bytes"
	"strings"

	"golang.org/x/text/encoding/unicode"
)

// textFormat sniffs a text format without a header row from the first
// characters of the content (after a byte order mark and white space):
// "[" is a JSON array, "{" NDJSON, "BEGIN:VCARD" a vCard file; "" is none
// of them (delimited text).
func textFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		head = head[3:]
	case hasUTF16BOM(head):
		order := unicode.LittleEndian
		if head[0] == 0xFE {
			order = unicode.BigEndian
		}
		head, _ = unicode.UTF16(order, unicode.ExpectBOM).NewDecoder().Bytes(head[:min(len(head), 256)&^1])
	}
	head = bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("[")):
		return FormatJSON
	case bytes.HasPrefix(head, []byte("{")):
		return FormatNDJSON
	case len(head) >= len("BEGIN:VCARD") && strings.EqualFold(string(head[:len("BEGIN:VCARD")]), "BEGIN:VCARD"):
		return FormatVCard
	}
	return ""
}

// openText opens a JSON, NDJSON or vCard file; ok is false for content that
// is none of them and may be read as delimited text. A format asked for
// that the content is not is a FormatError.
func openText(br *bufio.Reader, head []byte, opts Options) (rd Reader, ok bool, err error) {
	found := textFormat(head)
	asked := opts.Format
	if asked == FormatJSON || asked == FormatNDJSON {
		// Both are JSON; the content says which.
		if found == FormatJSON || found == FormatNDJSON {
			asked = found
		} else {
			return nil, true, &FormatError{Looks: "text that is not JSON", Want: "a JSON array of objects or one JSON object per line"}
		}
	}
	if asked == FormatVCard && found != FormatVCard {
		return nil, true, &FormatError{Looks: "text that does not start with BEGIN:VCARD", Want: "a vCard file"}
	}
	if found == "" {
		return nil, false, nil
	}
	text, enc := decodeText(br, head, len(head) < sniffSize)
	switch found {
	case FormatJSON:
		rd, err = openJSONArray(text, opts)
	case FormatNDJSON:
		rd, err = openNDJSON(text, opts)
	default:
		rd, err = openVCard(text, opts)
	}
	if rr, isRecords := rd.(*recordReader); isRecords && err == nil && rr != nil {
		rr.info = Info{Format: found, Encoding: enc}
	}
	return rd, true, err
}
