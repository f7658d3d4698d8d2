package filereader

import (
	"bufio"
	"errors"
	"io"
)

// lineReader reads lines of text holding at most max bytes of one line.
type lineReader struct {
	r   *bufio.Reader
	max int64
}

func newLineReader(text io.Reader, max int64) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(text, 64<<10), max: max}
}

// read reads one line with its line break (LF; a CR before it stays): the
// rest of a line longer than max is skipped and tooLong set. io.EOF comes
// only when nothing is left.
func (l *lineReader) read() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		part, err := l.r.ReadSlice('\n')
		if !tooLong {
			if int64(len(buf)+len(part)) > l.max {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, part...)
			}
		}
		switch {
		case err == nil:
			return buf, tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 && !tooLong && len(part) == 0 {
				return nil, false, io.EOF
			}
			return buf, tooLong, nil
		default:
			return nil, false, err
		}
	}
}

// peek returns the next byte without reading it (0 at the end).
func (l *lineReader) peek() byte {
	b, err := l.r.Peek(1)
	if err != nil {
		return 0
	}
	return b[0]
}
