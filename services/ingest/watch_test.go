package ingest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/pkg/testenv"
)

// metricValue scrapes /metrics and returns the value of an unlabelled metric.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestEventStreamsShareOneReader: ten clients watching one import cost one
// summary read per wake-up of its watcher, not ten.
func TestEventStreamsShareOneReader(t *testing.T) {
	defer func(d time.Duration) { eventsPoll = d }(eventsPoll)
	eventsPoll = time.Hour // no polling: every read below comes from a wake-up the test causes
	e := newEventsEnvWith(t, Config{}, metrics.New())
	srv := httptest.NewServer(e.api.Router())
	t.Cleanup(srv.Close) // after the streams' own cleanups: Close waits for open requests
	id, tenant := "imp_shared", "default"
	sum := &ledger.Summary{ID: id, Tenant: tenant, Status: ledger.StatusProcessing, Sealed: true, Total: 1000,
		Counts: envelope.Counts{Created: 100}}
	e.save(t, sum)

	const clients = 10
	var streams []*sseReader
	for range clients {
		_, s := openEvents(t, srv.URL, id)
		if ev, err := nextWithin(t, s, 5*time.Second); err != nil || ev.Name != "progress" || ev.Data.Created != 100 {
			t.Fatalf("first event = %+v, %v", ev, err)
		}
		streams = append(streams, s)
	}
	if got := metricValue(t, srv.URL, "intake_event_streams"); got != clients {
		t.Errorf("intake_event_streams = %v, want %d", got, clients)
	}
	if got := metricValue(t, srv.URL, "intake_event_stream_reads_total"); got != 1 {
		t.Errorf("%d clients joining cost %v summary reads, want 1", clients, got)
	}

	// Progress, and a lifecycle event that wakes the watcher: one read, every client told.
	sum.Counts = envelope.Counts{Created: 600}
	e.save(t, sum)
	wake := func() {
		data, _ := json.Marshal(envelope.Event{Type: envelope.EventSealed, Tenant: tenant, Import: id, At: time.Now().UTC()})
		if err := e.nc.Publish(subjects.For(subjects.Events, tenant, id), data); err != nil {
			t.Fatal(err)
		}
	}
	wake()
	for i, s := range streams {
		if ev, err := nextWithin(t, s, 5*time.Second); err != nil || ev.Name != "progress" || ev.Data.Created != 600 {
			t.Fatalf("client %d after the wake-up: %+v, %v", i, ev, err)
		}
	}
	if got := metricValue(t, srv.URL, "intake_event_stream_reads_total"); got != 2 {
		t.Errorf("one wake-up with %d clients cost %v reads in all, want 2", clients, got)
	}

	// Completed: one progress read and one read of the full summary, for all.
	now := time.Now().UTC()
	sum.Status, sum.Counts, sum.CompletedAt = ledger.StatusCompleted, envelope.Counts{Created: 1000}, &now
	e.save(t, sum)
	wake()
	for i, s := range streams {
		var last sseEvent
		if evs := restOf(t, s, 5*time.Second); len(evs) > 0 {
			last = evs[len(evs)-1]
		}
		if last.Name != "done" || last.Data.Status != "completed" || last.Data.Created != 1000 {
			t.Errorf("client %d ended with %+v", i, last)
		}
	}
	if got := metricValue(t, srv.URL, "intake_event_stream_reads_total"); got != 4 {
		t.Errorf("completion with %d clients: %v reads in all, want 4", clients, got)
	}
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if got := metricValue(t, srv.URL, "intake_event_streams"); got != 0 {
			return fmt.Errorf("intake_event_streams = %v after every stream ended", got)
		}
		return nil
	})
}

// TestEventStreamsCap: a tenant may hold max_event_streams streams; the
// next is refused with 429 and a message, and a closed stream frees its slot.
func TestEventStreamsCap(t *testing.T) {
	tbl, err := limits.Load("", limits.Limits{MaxEventStreams: 3})
	if err != nil {
		t.Fatal(err)
	}
	e := newEventsEnvWith(t, Config{Limits: tbl}, nil)
	srv := httptest.NewServer(e.api.Router())
	t.Cleanup(srv.Close) // after the streams' own cleanups: Close waits for open requests
	for _, id := range []string{"imp_a", "imp_b"} {
		e.save(t, &ledger.Summary{ID: id, Tenant: "default", Status: ledger.StatusProcessing, Sealed: true, Total: 10})
	}
	var open []*http.Response
	for _, id := range []string{"imp_a", "imp_a", "imp_b"} {
		resp, s := openEvents(t, srv.URL, id)
		if _, err := nextWithin(t, s, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		open = append(open, resp)
	}
	over := func() (int, string) {
		resp, err := http.Get(srv.URL + "/v1/imports/imp_b/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, "" // a stream: do not read it to its end
		}
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := over(); status != http.StatusTooManyRequests || !strings.Contains(body, "too many event streams open for this tenant (at most 3)") {
		t.Fatalf("a fourth stream = %d %s, want 429 with a message", status, body)
	}
	_ = open[0].Body.Close()
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if status, body := over(); status != http.StatusOK {
			return fmt.Errorf("after closing a stream: %d %s, want 200", status, body)
		}
		return nil
	})
}

// The watcher of an import ends when its last client leaves.
func TestEventWatcherStopsWithLastClient(t *testing.T) {
	e := newEventsEnv(t)
	srv := httptest.NewServer(e.api.Router())
	t.Cleanup(srv.Close) // after the streams' own cleanups: Close waits for open requests
	e.save(t, &ledger.Summary{ID: "imp_w", Tenant: "default", Status: ledger.StatusProcessing, Sealed: true, Total: 10})
	resp, s := openEvents(t, srv.URL, "imp_w")
	if _, err := nextWithin(t, s, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	watchers := func() int {
		e.api.streams.mu.Lock()
		defer e.api.streams.mu.Unlock()
		return len(e.api.streams.watchers)
	}
	if n := watchers(); n != 1 {
		t.Fatalf("%d watchers with one stream open, want 1", n)
	}
	_ = resp.Body.Close()
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := watchers(); n != 0 {
			return fmt.Errorf("%d watchers after the last client left", n)
		}
		return nil
	})
}
