package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// EventReader reads a server-sent event stream (text/event-stream) one
// event at a time, skipping and counting comment lines (the keep-alives).
// Data lines of one event are joined as they are and decoded as JSON, the
// one kind of data Intake's event streams send.
type EventReader struct {
	r        *bufio.Reader
	Comments int
}

// NewEventReader reads events from r.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{r: bufio.NewReader(r)}
}

// Next reads the next event, decodes its data into data and returns its
// name; at the end of the stream it returns io.EOF. A line that is not part
// of an event stream is an error.
func (e *EventReader) Next(data any) (string, error) {
	var name string
	var text strings.Builder
	for {
		line, err := e.r.ReadString('\n')
		if err != nil {
			return name, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		switch {
		case line == "":
			if name == "" && text.Len() == 0 {
				continue
			}
			if err := json.Unmarshal([]byte(text.String()), data); err != nil {
				return name, fmt.Errorf("event %s data %q: %w", name, text.String(), err)
			}
			return name, nil
		case strings.HasPrefix(line, ":"):
			e.Comments++
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			text.WriteString(strings.TrimPrefix(line, "data: "))
		default:
			return name, fmt.Errorf("unexpected line %q", line)
		}
	}
}
