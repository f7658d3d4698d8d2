package browser

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

type sseEvent struct {
	name string
	data ingest.ImportView
}

// readEvents reads a server-sent event stream to its end.
func readEvents(r io.Reader) ([]sseEvent, error) {
	var out []sseEvent
	events := testenv.NewEventReader(r)
	for {
		var v ingest.ImportView
		name, err := events.Next(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{name, v})
	}
}

// TestEventsStream follows a 2,000-row import through its events stream.
func TestEventsStream(t *testing.T) {
	s := startSystem(t, func(c *app.Config) { c.ChunkSize = 100 })
	id := s.upload(contactsCSV(2000), map[string]string{"schema": "contacts", "mode": "upsert"})

	start := time.Now()
	resp := s.request("GET", "/v1/imports/"+id+"/events", adminKey, nil, "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("events = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	type result struct {
		events []sseEvent
		err    error
	}
	got := make(chan result, 1)
	go func() { ev, err := readEvents(resp.Body); got <- result{ev, err} }()
	var events []sseEvent
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("reading events: %v (so far %d)", r.err, len(r.events))
		}
		events = r.events
	case <-time.After(2 * time.Minute):
		t.Fatal("the events stream did not end within 2 minutes")
	}
	t.Logf("%d events in %s", len(events), time.Since(start).Round(time.Millisecond))

	if len(events) < 2 {
		t.Fatalf("events = %+v, want progress events and done", events)
	}
	progress := 0
	last := -1
	for i, ev := range events[:len(events)-1] {
		if ev.name != "progress" {
			t.Fatalf("event %d is %q before the end", i, ev.name)
		}
		if ev.data.ID != id || ev.data.Processed < last || len(ev.data.Errors) != 0 {
			t.Errorf("progress %d = %+v (after %d processed)", i, ev.data, last)
		}
		last = ev.data.Processed
		progress++
	}
	done := events[len(events)-1]
	if done.name != "done" {
		t.Fatalf("last event = %q, want done", done.name)
	}
	if progress < 1 {
		t.Fatal("no progress event")
	}
	if done.data.Status != "completed" || done.data.Total != 2000 || done.data.Processed != 2000 {
		t.Errorf("done = %+v", done.data)
	}
	api := s.summary(id)
	if err := sameCounts(done.data, api); err != nil {
		t.Errorf("done differs from GET /v1/imports/%s: %v", id, err)
	}
	// 50 invalid emails, 80 - 10 duplicates (rows divisible by 200 are invalid instead).
	if api.Failed != 50 || api.Skipped != 70 || api.Created != 1880 {
		t.Errorf("summary = %+v", api)
	}
	if len(done.data.Errors) == 0 || done.data.Errors[0].Field != "email" {
		t.Errorf("done lists errors %+v, want the first failed rows", done.data.Errors)
	}
}

// TestEventsAuth: the events stream is behind the API's authentication and
// tenants, like the rest of /v1.
func TestEventsAuth(t *testing.T) {
	s := startSystem(t, nil)
	id := s.upload(contactsCSV(10), nil)
	acme := s.createKey("acme", auth.CapImportsRead)
	writeOnly := s.createKey("default", auth.CapImportsWrite)
	for _, c := range []struct {
		name, key string
		status    int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"wrong key", "ik_not_a_key", http.StatusUnauthorized},
		{"no imports:read", writeOnly, http.StatusForbidden},
		{"other tenant", acme, http.StatusNotFound},
	} {
		var body struct {
			Error string `json:"error"`
		}
		if status := s.call("GET", "/v1/imports/"+id+"/events", c.key, nil, "", &body); status != c.status || body.Error == "" {
			t.Errorf("%s: %d %q, want %d with an error", c.name, status, body.Error, c.status)
		}
	}
	// The key is never taken from the URL.
	if status := s.call("GET", "/v1/imports/"+id+"/events?api_key="+adminKey, "", nil, "", &struct{}{}); status != http.StatusUnauthorized {
		t.Errorf("key as a query parameter: %d, want 401", status)
	}
}
