package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/subjects"
)

// Event streams share one watcher per import: however many clients watch an
// import, its summary is read once per poll (or per lifecycle event), and
// the watcher stops when its last client leaves. The hub also counts each
// tenant's open streams, to cap them.
type streamHub struct {
	nc *nats.Conn
	// read is the progress read (no row errors), final the full summary
	// once the import has finished.
	read, final func(ctx context.Context, tenant, id string) (ImportView, bool, error)
	metrics     *metrics.Metrics // nil: none
	log         *zap.Logger

	mu       sync.Mutex
	watchers map[watchKey]*watcher
	open     map[string]int // by tenant
}

type watchKey struct{ tenant, id string }

// snapshot is what a watcher knows of its import. A newer one replaces it
// and closes next.
type snapshot struct {
	read  bool       // false until the first read is done
	found bool       // the tenant's import exists
	view  ImportView // the progress view
	done  bool       // final: no newer snapshot will come
	full  ImportView // with done and no err: the summary as GET shows it
	err   error      // the reads failed (with done: gave up)
	next  chan struct{}
}

type watcher struct {
	key    watchKey
	hub    *streamHub
	cancel context.CancelFunc
	subs   int // under hub.mu

	mu  sync.Mutex
	cur *snapshot
}

func newStreamHub(nc *nats.Conn, read, final func(context.Context, string, string) (ImportView, bool, error), m *metrics.Metrics, log *zap.Logger) *streamHub {
	return &streamHub{nc: nc, read: read, final: final, metrics: m, log: log,
		watchers: map[watchKey]*watcher{}, open: map[string]int{}}
}

// reserve counts one more open stream of tenant, unless it has limit
// already; the release function gives the slot back.
func (h *streamHub) reserve(tenant string, limit int) (release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open[tenant] >= limit {
		return nil, false
	}
	h.open[tenant]++
	if h.metrics != nil {
		h.metrics.EventStreams.Inc()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.open[tenant]--; h.open[tenant] <= 0 {
				delete(h.open, tenant)
			}
			if h.metrics != nil {
				h.metrics.EventStreams.Dec()
			}
		})
	}, true
}

// join returns the watcher of tenant's import id, starting it if no one
// watches it yet; leave must be called once done with it.
func (h *streamHub) join(tenant, id string) (w *watcher, leave func()) {
	k := watchKey{tenant, id}
	h.mu.Lock()
	w = h.watchers[k]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &watcher{key: k, hub: h, cancel: cancel, cur: &snapshot{next: make(chan struct{})}}
		h.watchers[k] = w
		go w.run(ctx)
	}
	w.subs++
	h.mu.Unlock()
	var once sync.Once
	return w, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if w.subs--; w.subs == 0 {
				delete(h.watchers, k)
				w.cancel()
			}
		})
	}
}

// current returns the latest snapshot.
func (w *watcher) current() *snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

func (w *watcher) publish(s snapshot) {
	s.read, s.next = true, make(chan struct{})
	w.mu.Lock()
	prev := w.cur
	w.cur = &s
	w.mu.Unlock()
	close(prev.next)
}

// run reads the import until it finishes, is not found, the reads keep
// failing, or the last client leaves (ctx). It wakes on the import's
// lifecycle events (opened, sealed, completed...) and otherwise polls, as
// the reporter publishes no event per chunk.
func (w *watcher) run(ctx context.Context) {
	log := w.hub.log.With(zap.String("import_id", w.key.id), zap.String("tenant", w.key.tenant))
	defer func() {
		// Outside a handler no one recovers: a panic here would end the process.
		if p := recover(); p != nil {
			log.Error("events: watcher panicked", zap.Any("panic", p), zap.Stack("stack"))
			w.publish(snapshot{err: errors.New("internal error"), done: true})
		}
	}()
	if w.hub.nc == nil {
		w.publish(snapshot{err: errors.New("broker unavailable"), done: true})
		return
	}
	wake := make(chan struct{}, 1)
	// Subscribe before the first read, so a completion in between is not missed.
	sub, err := w.hub.nc.Subscribe(subjects.For(subjects.Events, w.key.tenant, w.key.id), func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		w.publish(snapshot{err: errors.New("broker unavailable: " + err.Error()), done: true})
		return
	}
	defer func() { _ = sub.Unsubscribe() }()

	var last snapshot // the last snapshot published
	var sent []byte   // its view, as JSON, to publish only changes
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		v, found, err := w.hub.read(ctx, w.key.tenant, w.key.id)
		if w.hub.metrics != nil {
			w.hub.metrics.EventStreamReads.Inc()
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && !found && !last.found:
			w.publish(snapshot{done: true}) // 404 for whoever waits
			return
		case err != nil || !found:
			if err == nil {
				err = errors.New("the import disappeared")
			}
			failures++
			log.Warn("events: cannot read the import", zap.Error(err), zap.Int("failures", failures))
			if !last.read || failures >= eventsMaxErrors {
				last.err, last.done = err, true
				w.publish(last)
				return
			}
		case v.Status != ledger.StatusProcessing:
			full := v
			f, ok, err := w.hub.final(ctx, w.key.tenant, w.key.id)
			if w.hub.metrics != nil {
				w.hub.metrics.EventStreamReads.Inc()
			}
			if err == nil && ok {
				full = f // the final summary as GET shows it (with the first row errors)
			}
			w.publish(snapshot{found: true, view: v, done: true, full: full})
			return
		default:
			failures = 0
			data, _ := json.Marshal(v)
			if !last.read || !bytes.Equal(data, sent) {
				sent = data
				last = snapshot{read: true, found: true, view: v}
				w.publish(last)
			}
		}
		timer.Reset(eventsPoll)
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}
