package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// The HTTP server sets ReadHeaderTimeout (a slow-loris sending headers a
// byte at a time is cut off) but no ReadTimeout or WriteTimeout: an upload
// of a large file legitimately takes minutes, and GET ?wait= holds a
// response for up to a minute, so no whole-request bound fits. That leaves
// the body: a client that sends its headers and then stalls (or sends a
// byte a minute) holds a connection, a goroutine and, for an XLSX upload,
// a spooled temporary file for as long as it likes. IdleBody bounds the
// time between two bytes of a body instead of the whole body: a slow but
// moving upload goes on, a stalled one fails.

// ErrBodyIdle matches the error a request body returns when no byte of it
// arrived for the idle time.
var ErrBodyIdle = errors.New("the request body stalled")

// IdleBodyError is the error of a stalled request body.
type IdleBodyError struct {
	Idle time.Duration
	Err  error // the connection's timeout
}

func (e *IdleBodyError) Error() string {
	return fmt.Sprintf("the request body stalled: no data arrived for %s", e.Idle)
}

func (e *IdleBodyError) Unwrap() []error { return []error{ErrBodyIdle, e.Err} }

// IdleBody returns next with every request body bounded by idle: a Read
// that waits longer than idle for the next byte fails with an
// *IdleBodyError (errors.Is ErrBodyIdle), and the connection is closed, as
// for any read timeout. idle <= 0 returns next unchanged.
//
// It works through the connection's read deadline
// (http.ResponseController), extended before every Read of the body and
// cleared when the body ends or the handler returns, so the rest of the
// request (publishing the rows, ?wait=) and the next request on the
// connection are not bounded by it. Where the ResponseWriter cannot set a
// read deadline (a wrapper without Unwrap) the body is left unbounded.
// Wrap the server's handler with it (outside any middleware that wraps the
// ResponseWriter), e.g. http.Server{Handler: IdleBody(h, 30*time.Second)}.
func IdleBody(next http.Handler, idle time.Duration) http.Handler {
	if idle <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &idleBody{body: r.Body, rc: http.NewResponseController(w), idle: idle}
		defer b.clear()
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

type idleBody struct {
	body        io.ReadCloser
	rc          *http.ResponseController
	idle        time.Duration
	unsupported bool
	armed       bool
	done        bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	if !b.unsupported {
		if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil {
			b.unsupported = true
		} else {
			b.armed = true
		}
	}
	n, err := b.body.Read(p)
	if err != nil {
		b.clear()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &IdleBodyError{Idle: b.idle, Err: err}
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.clear()
	return b.body.Close()
}

// clear lifts the read deadline once the body has ended (or the handler
// returned) and stops arming it: after the body, net/http reads the
// connection in the background to notice a client going away (clearing the
// deadline as it starts), and a deadline armed again by a Read after the
// end would fire there and cancel the request's context.
func (b *idleBody) clear() {
	b.done = true
	if b.armed {
		b.armed = false
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
