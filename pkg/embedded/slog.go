package embedded

import (
	"context"
	"log/slog"
)

// QuietHandler passes records at or above a level to next, and keeps
// attributes added with WithAttrs unformatted until a record is actually
// written. FerretDB calls logger.With(...) on every SQL statement; slog's
// own handlers format those attributes at once, which cost 3-4% of the
// importer's CPU for logs that were then never written.
type QuietHandler struct {
	level slog.Level
	next  slog.Handler
	attrs []slog.Attr
	group string
}

// NewQuietHandler gates next at level.
func NewQuietHandler(level slog.Level, next slog.Handler) *QuietHandler {
	return &QuietHandler{level: level, next: next}
}

// Enabled implements slog.Handler.
func (h *QuietHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

// Handle implements slog.Handler.
func (h *QuietHandler) Handle(ctx context.Context, r slog.Record) error {
	next := h.next
	if h.group != "" {
		next = next.WithGroup(h.group)
	}
	if len(h.attrs) > 0 {
		next = next.WithAttrs(h.attrs)
	}
	return next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler without formatting anything.
func (h *QuietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

// WithGroup implements slog.Handler.
func (h *QuietHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
