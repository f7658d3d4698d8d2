package filereader

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// The encodings decodeText tells apart, as Info names them.
const (
	EncodingUTF8        = "utf-8"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
	EncodingWindows1252 = "windows-1252" // Latin-1 and its Windows superset
)

// decodeText returns the content of br as UTF-8 and the encoding it was
// read as, head being its first bytes
// (peeked, not consumed):
//   - a UTF-8 byte order mark is dropped;
//   - UTF-16 (LE or BE) with a byte order mark is converted;
//   - text whose first bytes are mostly UTF-8 (they are valid UTF-8, or they
//     hold at least as many valid multi-byte sequences as invalid bytes) is read as
//     UTF-8, and a stray byte that is not valid UTF-8 is read as
//     Windows-1252, so the result is always valid UTF-8;
//   - anything else is read as Windows-1252 (Excel's "CSV" on Windows in
//     western locales), so "Müller" stays "Müller".
func decodeText(br *bufio.Reader, head []byte, atEOF bool) (io.Reader, string) {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
		return transform.NewReader(br, utf8Or1252{}), EncodingUTF8
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), EncodingUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()), EncodingUTF16BE
	case mostlyUTF8(head, atEOF):
		return transform.NewReader(br, utf8Or1252{}), EncodingUTF8
	default:
		return transform.NewReader(br, charmap.Windows1252.NewDecoder()), EncodingWindows1252
	}
}

// validUTF8Prefix reports whether b is valid UTF-8, allowing a rune cut at
// the end unless b is the whole file.
func validUTF8Prefix(b []byte, atEOF bool) bool {
	if utf8.Valid(b) {
		return true
	}
	if atEOF {
		return false
	}
	// Drop an incomplete last rune (at most 3 bytes) and try again.
	for i := 1; i <= 3 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			tail := b[len(b)-i:]
			return !utf8.FullRune(tail) && utf8.Valid(b[:len(b)-i])
		}
	}
	return false
}

// mostlyUTF8 reports whether b, the first bytes of a file, is valid UTF-8
// or holds at least as many valid multi-byte UTF-8 sequences as invalid bytes (UTF-8
// text with a few Windows-1252 bytes pasted in). Windows-1252 text almost
// never holds a valid multi-byte UTF-8 sequence.
func mostlyUTF8(b []byte, atEOF bool) bool {
	if validUTF8Prefix(b, atEOF) {
		return true
	}
	multi, invalid := 0, 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			invalid++
		default:
			multi++
		}
		i += max(size, 1)
	}
	return multi > 0 && multi >= invalid
}

// utf8Or1252 passes valid UTF-8 through and decodes each byte that is not
// part of a valid UTF-8 sequence as Windows-1252.
type utf8Or1252 struct{ transform.NopResetter }

func (utf8Or1252) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		// Copy a run of ASCII at once.
		i := nSrc
		for i < len(src) && src[i] < utf8.RuneSelf {
			i++
		}
		if i > nSrc {
			n := copy(dst[nDst:], src[nSrc:i])
			nDst += n
			nSrc += n
			if nSrc < i {
				return nDst, nSrc, transform.ErrShortDst
			}
			continue
		}
		r, size := utf8.DecodeRune(src[nSrc:])
		if r == utf8.RuneError && size <= 1 {
			if !atEOF && !utf8.FullRune(src[nSrc:]) {
				return nDst, nSrc, transform.ErrShortSrc
			}
			r := charmap.Windows1252.DecodeByte(src[nSrc])
			if nDst+utf8.RuneLen(r) > len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			nDst += utf8.EncodeRune(dst[nDst:], r)
			nSrc++
			continue
		}
		if nDst+size > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += copy(dst[nDst:], src[nSrc:nSrc+size])
		nSrc += size
	}
	return nDst, nSrc, nil
}

// crReader turns line breaks made of a lone CR (classic Mac) into LF, which
// encoding/csv does not split on. CRLF becomes a single LF. A CR inside a
// quoted cell becomes LF too.
type crReader struct {
	r      io.Reader
	lastCR bool // the last byte returned was a CR turned into LF
}

func (c *crReader) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		if n == 0 {
			return 0, err
		}
		if !c.lastCR && bytes.IndexByte(p[:n], '\r') < 0 {
			return n, err
		}
		w := 0
		for _, b := range p[:n] {
			if b == '\n' && c.lastCR {
				c.lastCR = false
				continue
			}
			c.lastCR = b == '\r'
			if c.lastCR {
				b = '\n'
			}
			p[w] = b
			w++
		}
		if w > 0 || err != nil {
			return w, err
		}
		// Only the LF of a CRLF split across reads: read on.
	}
}
