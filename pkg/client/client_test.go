package client

// Unit tests of the client against a real in-process nats-server with
// Intake's streams and a stand-in for the upstream service. The end-to-end
// test (100,000 rows through the whole pipeline) is in services/upstream.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

// broker is a nats-server with Intake's streams and a fake upstream service.
type broker struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream

	mu      sync.Mutex
	seals   []SealRequest
	opened  int
	summary func(tenant, id string) (any, int) // reply, error code (0: none)
}

func startBroker(t *testing.T, sc streams.Config) *broker {
	t.Helper()
	nc, js := streamstest.Start(t, sc) // the embedded server's 8 MiB max_payload
	b := &broker{t: t, nc: nc, js: js}
	b.serve()
	return b
}

// serve answers open, seal and summary like the upstream service would.
// Tenant "bad" gets an error reply to open; tenant "none" no reply at all.
func (b *broker) serve() {
	reply := func(m *nats.Msg, v any, code int) {
		if code != 0 {
			r := nats.NewMsg(m.Reply)
			r.Header.Set(HeaderErrorCode, fmt.Sprint(code))
			r.Header.Set(HeaderError, fmt.Sprint(v))
			r.Data, _ = json.Marshal(ErrorReply{Error: fmt.Sprint(v), Code: code})
			_ = m.RespondMsg(r)
			return
		}
		data, _ := json.Marshal(v)
		_ = m.Respond(data)
	}
	tenantOf := func(subject string) string { return strings.Split(subject, ".")[3] }
	sub := func(op string, h func(m *nats.Msg, tenant string)) {
		if _, err := b.nc.Subscribe(APISubject("*", op), func(m *nats.Msg) { h(m, tenantOf(m.Subject)) }); err != nil {
			b.t.Fatal(err)
		}
	}
	sub(OpOpen, func(m *nats.Msg, tenant string) {
		switch tenant {
		case "none":
			return
		case "bad":
			reply(m, `unknown schema "nope" (known: contacts)`, CodeBadRequest)
			return
		}
		var req OpenRequest
		_ = json.Unmarshal(m.Data, &req)
		b.mu.Lock()
		b.opened++
		id := fmt.Sprintf("imp_test%d", b.opened)
		b.mu.Unlock()
		reply(m, OpenReply{ID: id, Tenant: tenant, Options: ImportOptions{Schema: "contacts", Mode: "upsert", Key: "email"},
			RowsSubject: subjects.For(subjects.Rows, tenant, id), EventsSubject: subjects.For(subjects.Events, tenant, id)}, 0)
	})
	sub(OpSeal, func(m *nats.Msg, _ string) {
		var req SealRequest
		_ = json.Unmarshal(m.Data, &req)
		b.mu.Lock()
		b.seals = append(b.seals, req)
		b.mu.Unlock()
		reply(m, SealReply{ID: req.ID, Total: *req.Total}, 0)
	})
	sub(OpSummary, func(m *nats.Msg, tenant string) {
		var req SummaryRequest
		_ = json.Unmarshal(m.Data, &req)
		b.mu.Lock()
		f := b.summary
		b.mu.Unlock()
		if f == nil {
			reply(m, "unknown import", CodeNotFound)
			return
		}
		v, code := f(tenant, req.ID)
		reply(m, v, code)
	})
}

// chunks reads every row chunk stored for an import, in stream order, with
// their message IDs.
func (b *broker) chunks(tenant, id string) ([]envelope.RowChunk, []string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := b.js.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{FilterSubjects: subjects.Filters(subjects.Rows, tenant, id)})
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	n := int(info.NumPending)
	var (
		out []envelope.RowChunk
		ids []string
	)
	for len(out) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			b.t.Fatal(err)
		}
		var ch envelope.RowChunk
		if err := json.Unmarshal(m.Data(), &ch); err != nil {
			b.t.Fatal(err)
		}
		out = append(out, ch)
		ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
	}
	return out, ids
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, nc *nats.Conn, opts ...Option) *Client {
	t.Helper()
	c, err := New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rowsOf(from, n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = []string{fmt.Sprintf("Person %d", from+i), fmt.Sprintf("p%d@example.com", from+i)}
	}
	return rows
}

var header = []string{"Name", "E-mail"}

func TestPublishNumbersRowsChunksAndSeals(t *testing.T) {
	b := startBroker(t, streams.Config{})
	ctx := ctxT(t)
	c := newClient(t, b.nc, WithChunkSize(3))
	im, err := c.Open(ctx, OpenRequest{Tenant: "acme", Schema: "contacts"})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Publish(ctx, rowsOf(0, 7), header); err != nil {
		t.Fatal(err)
	}
	if err := im.Publish(ctx, rowsOf(7, 3), nil); err != nil {
		t.Fatal(err)
	}
	if err := im.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.seals) != 1 || b.seals[0].ID != im.ID || *b.seals[0].Total != 10 || b.seals[0].Reason != "" {
		t.Fatalf("seals = %+v, want one of %s with total 10", b.seals, im.ID)
	}
	chunks, msgIDs := b.chunks("acme", im.ID)
	if len(chunks) != 4 || im.Chunks() != 4 {
		t.Fatalf("%d chunks stored, %d published, want 4", len(chunks), im.Chunks())
	}
	row := 2
	for i, ch := range chunks {
		if ch.Chunk != i || ch.Tenant != "acme" || ch.Import != im.ID || msgIDs[i] != fmt.Sprintf("%s:rows:%d", im.ID, i) {
			t.Fatalf("chunk %d: number %d tenant %s import %s msg id %s", i, ch.Chunk, ch.Tenant, ch.Import, msgIDs[i])
		}
		if !reflect.DeepEqual(ch.Options, envelope.Options{Schema: "contacts", Mode: "upsert", Key: "email"}) || strings.Join(ch.Header, ",") != "Name,E-mail" {
			t.Fatalf("chunk %d: options %+v header %v", i, ch.Options, ch.Header)
		}
		for _, r := range ch.Rows {
			if r.Row != row || r.Cells[0] != fmt.Sprintf("Person %d", row-2) {
				t.Fatalf("chunk %d: row %d %v, want row %d", i, r.Row, r.Cells, row)
			}
			row++
		}
	}
	if row != 12 {
		t.Fatalf("rows up to %d, want 2..11", row-1)
	}
	if err := im.Publish(ctx, rowsOf(10, 1), nil); !errors.Is(err, ErrSealed) {
		t.Fatalf("publish after seal: %v, want ErrSealed", err)
	}
}

func TestHeaderRules(t *testing.T) {
	b := startBroker(t, streams.Config{})
	ctx := ctxT(t)
	c := newClient(t, b.nc)
	im, err := c.Open(ctx, OpenRequest{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Publish(ctx, rowsOf(0, 1), nil); err == nil || !strings.Contains(err.Error(), "needs the header") {
		t.Fatalf("first publish without header: %v", err)
	}
	if err := im.Publish(ctx, rowsOf(0, 1), header); err != nil {
		t.Fatal(err)
	}
	if err := im.Publish(ctx, rowsOf(1, 1), []string{"Other"}); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("other header: %v", err)
	}
	// The header given at open is used.
	im2, err := c.Open(ctx, OpenRequest{Tenant: "acme", Header: header})
	if err != nil {
		t.Fatal(err)
	}
	im2.SkipRows(2) // two blank lines: the first row is row 4
	if err := im2.Publish(ctx, rowsOf(0, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := im2.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	chunks, _ := b.chunks("acme", im2.ID)
	if len(chunks) != 1 || chunks[0].Rows[0].Row != 4 || len(chunks[0].Header) != 2 {
		t.Fatalf("chunks %+v", chunks)
	}
}

// A publish whose acknowledgement does not come in time is sent again with
// the same Nats-Msg-Id, and JetStream stores it once.
func TestRetriedChunksAreStoredOnce(t *testing.T) {
	b := startBroker(t, streams.Config{})
	ctx := ctxT(t)
	// The first attempts give up long before the acknowledgement can arrive.
	c := newClient(t, b.nc, WithChunkSize(1), WithAckTimeout(time.Microsecond), WithMaxRetries(40), WithMaxInFlight(8))
	im, err := c.Open(ctx, OpenRequest{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Publish(ctx, rowsOf(0, 50), header); err != nil {
		t.Fatal(err)
	}
	if err := im.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if im.Retries() == 0 {
		t.Fatal("no chunk was retried; the test proves nothing")
	}
	chunks, _ := b.chunks("acme", im.ID)
	if len(chunks) != 50 {
		t.Fatalf("%d chunks stored after %d retries, want 50", len(chunks), im.Retries())
	}
	for i, ch := range chunks {
		if ch.Chunk != i {
			t.Fatalf("chunk %d stored as %d", i, ch.Chunk)
		}
	}
}

func TestChunkSize(t *testing.T) {
	t.Run("large chunks are split", func(t *testing.T) {
		b := startBroker(t, streams.Config{})
		ctx := ctxT(t)
		c := newClient(t, b.nc, WithChunkSize(100), WithMaxChunkBytes(4000))
		im, err := c.Open(ctx, OpenRequest{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		rows := make([][]string, 100)
		for i := range rows {
			rows[i] = []string{strings.Repeat("x", 100), fmt.Sprintf("p%d@example.com", i)}
		}
		if err := im.Publish(ctx, rows, header); err != nil {
			t.Fatal(err)
		}
		if err := im.Seal(ctx); err != nil {
			t.Fatal(err)
		}
		chunks, _ := b.chunks("acme", im.ID)
		next := 2
		for i, ch := range chunks {
			data, _ := json.Marshal(ch)
			if ch.Chunk != i || len(data) > 4000 {
				t.Fatalf("chunk %d: number %d, %d bytes", i, ch.Chunk, len(data))
			}
			for _, r := range ch.Rows {
				if r.Row != next {
					t.Fatalf("row %d, want %d", r.Row, next)
				}
				next++
			}
		}
		if next != 102 || len(chunks) < 4 {
			t.Fatalf("%d chunks with rows up to %d", len(chunks), next-1)
		}
	})
	t.Run("a row larger than a chunk may be", func(t *testing.T) {
		b := startBroker(t, streams.Config{})
		ctx := ctxT(t)
		c := newClient(t, b.nc, WithMaxChunkBytes(4000))
		im, err := c.Open(ctx, OpenRequest{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		err = im.Publish(ctx, [][]string{{strings.Repeat("x", 5000), "a@example.com"}}, header)
		if err == nil {
			err = im.Flush(ctx)
		}
		if !errors.Is(err, ErrChunkTooLarge) || !strings.Contains(err.Error(), "row 2") {
			t.Fatalf("err = %v, want ErrChunkTooLarge naming row 2", err)
		}
		if err := im.Seal(ctx); !errors.Is(err, ErrChunkTooLarge) {
			t.Fatalf("seal after the error: %v, want the same error", err)
		}
	})
	t.Run("the stream refuses it", func(t *testing.T) {
		// The client believes chunks may have 1 MiB; the stream takes 16 KiB.
		b := startBroker(t, streams.Config{MaxMsgSize: 16 << 10})
		ctx := ctxT(t)
		c := newClient(t, b.nc, WithMaxChunkBytes(1<<20))
		im, err := c.Open(ctx, OpenRequest{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Publish(ctx, [][]string{{strings.Repeat("x", 100<<10), "a@example.com"}}, header); err != nil {
			t.Fatal(err)
		}
		err = im.Seal(ctx)
		if !errors.Is(err, ErrChunkTooLarge) || !strings.Contains(err.Error(), "refused by the stream") {
			t.Fatalf("err = %v, want ErrChunkTooLarge refused by the stream", err)
		}
		if len(b.seals) != 0 {
			t.Fatal("sealed although a chunk was not stored")
		}
	})
	t.Run("larger than the server's max_payload", func(t *testing.T) {
		b := startBroker(t, streams.Config{})
		ctx := ctxT(t)
		c := newClient(t, b.nc, WithMaxChunkBytes(64<<20))
		im, err := c.Open(ctx, OpenRequest{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		err = im.Publish(ctx, [][]string{{strings.Repeat("x", 9<<20), "a@example.com"}}, header)
		if err == nil {
			err = im.Flush(ctx)
		}
		if !errors.Is(err, ErrChunkTooLarge) || !strings.Contains(err.Error(), "maximum payload") {
			t.Fatalf("err = %v, want ErrChunkTooLarge from the payload limit", err)
		}
	})
}

func TestRequestErrors(t *testing.T) {
	b := startBroker(t, streams.Config{})
	ctx := ctxT(t)
	c := newClient(t, b.nc, WithRequestTimeout(300*time.Millisecond), WithMaxRetries(1))
	_, err := c.Open(ctx, OpenRequest{Tenant: "bad", Schema: "nope"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != CodeBadRequest || !strings.Contains(ae.Message, `unknown schema "nope"`) {
		t.Fatalf("err = %v, want an APIError 400 about the schema", err)
	}
	if _, err := c.Open(ctx, OpenRequest{Schema: "contacts"}); err == nil || !strings.Contains(err.Error(), "tenant is required") {
		t.Fatalf("open without tenant: %v", err)
	}
	if _, err := c.Open(ctx, OpenRequest{Tenant: "none"}); err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("open without an answer: %v, want a timeout", err)
	}
	// Nobody serves this subject at all.
	nobody := newClient(t, b.nc)
	_, err = nobody.Summary(ctx, "acme", "imp_x")
	if !errors.As(err, &ae) || ae.Code != CodeNotFound {
		t.Fatalf("summary of an unknown import: %v", err)
	}
	err = nobody.request(ctx, "acme", "intake.api.v1.acme.nothing", map[string]string{}, &struct{}{}, false)
	if !errors.Is(err, nats.ErrNoResponders) || !strings.Contains(err.Error(), "no Intake upstream service answers") {
		t.Fatalf("no responders: %v", err)
	}
}

// Wait reads the summary again as soon as an event of the import arrives.
func TestWaitWakesOnEvent(t *testing.T) {
	b := startBroker(t, streams.Config{})
	ctx := ctxT(t)
	c := newClient(t, b.nc, WithPollInterval(time.Minute))
	var done bool
	b.mu.Lock()
	b.summary = func(tenant, id string) (any, int) {
		b.mu.Lock()
		defer b.mu.Unlock()
		s := SummaryReply{Summary: Summary{ID: id, Tenant: tenant, Status: StatusProcessing, Errors: []RowError{}}}
		if done {
			s.Status, s.Sealed, s.Total, s.Processed, s.Created = StatusCompleted, true, 1, 1, 1
		}
		return s, 0
	}
	b.mu.Unlock()
	go func() {
		time.Sleep(300 * time.Millisecond)
		b.mu.Lock()
		done = true
		b.mu.Unlock()
		ev, _ := json.Marshal(envelope.Event{Type: envelope.EventCompleted, Tenant: "acme", Import: "imp_w", At: time.Now()})
		_ = b.nc.Publish(subjects.For(subjects.Events, "acme", "imp_w"), ev)
	}()
	start := time.Now()
	s, err := c.Wait(ctx, "acme", "imp_w")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusCompleted || s.Created != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("summary %+v after %s", s, time.Since(start))
	}
}
