package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/ids"
)

// The upload page: plain HTML, CSS and a little JavaScript, embedded in the
// binary, no external resources. It calls the API with the key the person
// enters, so its own routes are public.
//
//go:embed web
var webFS embed.FS

// webAsset is one embedded file, ready to serve.
type webAsset struct {
	name  string
	data  []byte
	ctype string
	etag  string
}

var webAssets = sync.OnceValue(func() map[string]webAsset {
	out := map[string]webAsset{}
	err := fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := webFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := p[len("web/"):]
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = http.DetectContentType(data)
		}
		sum := sha256.Sum256(data)
		out[name] = webAsset{name: name, data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("ingest: embedded web files: " + err.Error()) // cannot happen: the files are compiled in
	}
	return out
})

// webCSP allows the page its own files and its own API, nothing else.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// mountWeb serves the upload page at / and its files under /ui/.
func (a *API) mountWeb(r chi.Router) {
	assets := webAssets()
	r.Get("/", func(w http.ResponseWriter, req *http.Request) {
		serveAsset(w, req, assets["index.html"])
	})
	r.Get("/ui/*", func(w http.ResponseWriter, req *http.Request) {
		as, ok := assets[chi.URLParam(req, "*")]
		if !ok {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		serveAsset(w, req, as)
	})
}

func serveAsset(w http.ResponseWriter, r *http.Request, as webAsset) {
	h := w.Header()
	h.Set("Content-Type", as.ctype)
	h.Set("ETag", as.etag)
	h.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
	h.Set("Content-Security-Policy", webCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, as.name, time.Time{}, bytes.NewReader(as.data))
}

// Server-sent events of an import's progress.
// (Variables so that tests can shorten them.)
var (
	eventsPoll      = 300 * time.Millisecond // the reporter publishes no per-chunk events: poll the summary
	eventsHeartbeat = 15 * time.Second       // a comment line keeps proxies from closing an idle stream
	eventsMaxAge    = time.Hour              // a stream ends after this; clients reconnect or poll
	eventsMaxErrors = 20                     // consecutive failed reads (about 6 s) end the streams with an error event
)

// getEvents streams an import's progress as server-sent events
// (text/event-stream): "progress" with the summary whenever it changes,
// then "done" with the summary as GET /v1/imports/{id} shows it once the
// import is no longer processing, and the stream ends. Comment lines are
// sent as a heartbeat. Anything but one of the tenant's imports (an unknown
// or malformed ID, another tenant's import) is a 404 before the stream
// starts; a tenant with its limit of streams open gets 429. The streams of
// one import share one reader (see streamHub).
func (a *API) getEvents(w http.ResponseWriter, r *http.Request) {
	tenant, id := tenantOf(r), chi.URLParam(r, "id")
	if ids.ValidImport(id) != nil {
		writeError(w, http.StatusNotFound, "import not found") // also keeps wildcards out of subjects
		return
	}
	limit := a.limitsFor(tenant).MaxEventStreams
	release, ok := a.streams.reserve(tenant, limit)
	if !ok {
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many event streams open for this tenant (at most %d); close one, or poll GET /v1/imports/{id}?wait=", limit))
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), eventsMaxAge)
	defer cancel()
	stop := shutdownSignal(r)
	watch, leave := a.streams.join(tenant, id)
	defer leave()

	snap := watch.current()
	for !snap.read {
		select {
		case <-snap.next:
			snap = watch.current()
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
	}
	switch {
	case snap.err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot read the import: "+snap.err.Error())
		return
	case !snap.found:
		writeError(w, http.StatusNotFound, "import not found")
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w), last: time.Now()}
	heartbeat := time.NewTicker(eventsHeartbeat)
	defer heartbeat.Stop()

	var sent []byte
	for {
		switch {
		case snap.done && snap.err != nil:
			_ = s.event("error", errorBody{Error: "cannot read the import: " + snap.err.Error(), Import: id}, nil)
			return
		case snap.done:
			if err := s.event("progress", snap.view, &sent); err != nil {
				return
			}
			_ = s.event("done", snap.full, nil)
			return
		default:
			if err := s.event("progress", snap.view, &sent); err != nil {
				return // client went away
			}
		}
		for waiting := true; waiting; {
			select {
			case <-snap.next:
				snap, waiting = watch.current(), false
			case <-heartbeat.C:
				if time.Since(s.last) >= eventsHeartbeat {
					if err := s.comment("heartbeat"); err != nil {
						return
					}
				}
			case <-stop:
				return // the server is shutting down; clients fall back to polling
			case <-ctx.Done():
				return // client went away, or the stream is old enough
			}
		}
	}
}

// sseWriter writes server-sent events and flushes each one.
type sseWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	last time.Time // last write, for the heartbeat
}

// event writes an event with v as JSON data. With prev set, it writes only
// if the data differ from *prev, and then remembers them.
func (s *sseWriter) event(name string, v any, prev *[]byte) error {
	data, err := json.Marshal(v) // one line: JSON from Marshal has no raw newlines
	if err != nil {
		return err
	}
	if prev != nil {
		if bytes.Equal(data, *prev) {
			return nil
		}
		*prev = data
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) flush() error {
	s.last = time.Now()
	return s.rc.Flush()
}

// A stream would hold a graceful shutdown until its grace ran out (Shutdown
// waits for handlers). Each server gets one shutdown hook that closes a
// channel the streams watch.
var (
	shutdownMu sync.Mutex
	shutdowns  = map[*http.Server]chan struct{}{}
)

// shutdownSignal is closed when the request's server starts shutting down
// (nil, which never fires, outside an http.Server).
func shutdownSignal(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	shutdownMu.Lock()
	defer shutdownMu.Unlock()
	ch, ok := shutdowns[srv]
	if !ok {
		ch = make(chan struct{})
		shutdowns[srv] = ch
		srv.RegisterOnShutdown(func() {
			shutdownMu.Lock()
			delete(shutdowns, srv)
			shutdownMu.Unlock()
			close(ch)
		})
	}
	return ch
}
