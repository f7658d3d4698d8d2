package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/subjects"
)

// Defaults of a Client.
const (
	DefaultChunkSize      = 500
	DefaultMaxInFlight    = 64
	DefaultAckTimeout     = 5 * time.Second
	DefaultMaxRetries     = 5
	DefaultRequestTimeout = 10 * time.Second
	DefaultPollInterval   = 2 * time.Second

	// DefaultMaxChunkBytes is Intake's stream limit (MaxMsgSize, 8 MiB) less
	// room for the headers.
	DefaultMaxChunkBytes = 8<<20 - 4<<10

	maxAckWait = time.Minute
)

// ErrChunkTooLarge is returned when a chunk cannot be stored because it is
// larger than the broker or the stream allows. The client splits chunks
// that are too large on its own, so this means one row is.
var ErrChunkTooLarge = errors.New("chunk larger than the broker allows")

// ErrSealed is returned when rows are published to a sealed import.
var ErrSealed = errors.New("the import is sealed")

// APIError is an error reply of the Intake service.
type APIError struct {
	Code    int    // see the Code* constants
	Message string // what was wrong
	Subject string // the request subject
}

func (e *APIError) Error() string {
	return fmt.Sprintf("intake %s: %s (code %d)", e.Subject, e.Message, e.Code)
}

// Client talks to Intake over one NATS connection.
type Client struct {
	nc *nats.Conn
	js jetstream.JetStream

	chunkSize      int
	maxChunkBytes  int
	maxInFlight    int
	ackTimeout     time.Duration
	maxRetries     int
	requestTimeout time.Duration
	pollInterval   time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithChunkSize sets the rows per chunk (default 500). Chunks whose JSON
// would be larger than the broker allows are split further.
func WithChunkSize(n int) Option { return func(c *Client) { c.chunkSize = n } }

// WithMaxChunkBytes sets the largest chunk, in bytes of JSON (default: the
// smaller of the server's max_payload and Intake's 8 MiB stream limit, less
// 4 KiB for headers). Set it when the stream limit is lower.
func WithMaxChunkBytes(n int) Option { return func(c *Client) { c.maxChunkBytes = n } }

// WithMaxInFlight bounds the chunks published but not yet acknowledged by
// JetStream (default 64): Publish blocks while the window is full, so a fast
// producer cannot outrun the broker in memory.
func WithMaxInFlight(n int) Option { return func(c *Client) { c.maxInFlight = n } }

// WithAckTimeout sets how long the first attempt to store a chunk waits for
// its acknowledgement (default 5s); every retry waits twice as long as the
// one before, up to a minute.
func WithAckTimeout(d time.Duration) Option { return func(c *Client) { c.ackTimeout = d } }

// WithMaxRetries sets how often a chunk is published again after a timeout
// (default 5). A retry has the same Nats-Msg-Id, so JetStream stores the
// chunk once however often it is sent within its 10-minute duplicate window.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithRequestTimeout bounds one request-reply attempt (default 10s).
// Requests that are safe to repeat (seal, summary, and open with an
// idempotency key) are sent again after a timeout, up to WithMaxRetries times.
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.requestTimeout = d } }

// WithPollInterval sets how often Wait reads the summary when no event
// arrives (default 2s).
func WithPollInterval(d time.Duration) Option { return func(c *Client) { c.pollInterval = d } }

// New makes a client on nc. Its requests take their replies on the tenant's
// inbox (InboxPrefix), whatever inbox prefix nc was given: Intake answers
// nowhere else.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	c := &Client{
		nc: nc, chunkSize: DefaultChunkSize, maxInFlight: DefaultMaxInFlight, ackTimeout: DefaultAckTimeout,
		maxRetries: DefaultMaxRetries, requestTimeout: DefaultRequestTimeout, pollInterval: DefaultPollInterval,
	}
	for _, o := range opts {
		o(c)
	}
	if c.chunkSize < 1 || c.maxInFlight < 1 || c.ackTimeout <= 0 || c.maxRetries < 0 || c.requestTimeout <= 0 || c.pollInterval <= 0 {
		return nil, errors.New("client: chunk size and in-flight window must be at least 1, timeouts positive, retries not negative")
	}
	if c.maxChunkBytes <= 0 {
		c.maxChunkBytes = DefaultMaxChunkBytes
		if mp := int(nc.MaxPayload()); mp > 0 && mp-4<<10 < c.maxChunkBytes {
			c.maxChunkBytes = mp - 4<<10
		}
	}
	// Futures given up on by a retry stay pending in the library until their
	// late acknowledgement arrives, so leave room for them.
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(min(c.maxInFlight*(c.maxRetries+1)+16, 8192)),
		jetstream.WithPublishAsyncTimeout(2*maxAckWait))
	if err != nil {
		return nil, fmt.Errorf("client: jetstream: %w", err)
	}
	c.js = js
	return c, nil
}

// requestOnInbox sends one request whose reply comes to a fresh subject
// under the tenant's inbox prefix.
func (c *Client) requestOnInbox(ctx context.Context, tenant, subject string, data []byte) (*nats.Msg, error) {
	inbox := InboxPrefix(tenant) + "." + nuid.Next()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.AutoUnsubscribe(1); err != nil {
		return nil, err
	}
	if err := c.nc.PublishRequest(subject, inbox, data); err != nil {
		return nil, err
	}
	msg, err := sub.NextMsgWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		return nil, nats.ErrNoResponders
	}
	return msg, nil
}

// request sends req to a tenant's subject and decodes the reply into out.
// idempotent requests are sent again when an attempt times out.
func (c *Client) request(ctx context.Context, tenant, subject string, req, out any, idempotent bool) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	attempts := 1
	if idempotent {
		attempts += c.maxRetries
	}
	var msg *nats.Msg
	for i := 0; i < attempts; i++ {
		actx, cancel := context.WithTimeout(ctx, c.requestTimeout)
		msg, err = c.requestOnInbox(actx, tenant, subject, data)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			break
		}
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("intake %s: no Intake upstream service answers (is it running, and may this user publish there?): %w", subject, err)
	case err != nil:
		return fmt.Errorf("intake %s: %w", subject, err)
	}
	if code := msg.Header.Get(HeaderErrorCode); code != "" {
		ae := &APIError{Subject: subject, Message: msg.Header.Get(HeaderError)}
		ae.Code, _ = strconv.Atoi(code)
		var er ErrorReply
		if json.Unmarshal(msg.Data, &er) == nil && er.Error != "" {
			ae.Message = er.Error
		}
		return ae
	}
	var er ErrorReply
	if json.Unmarshal(msg.Data, &er) == nil && er.Error != "" {
		return &APIError{Subject: subject, Code: er.Code, Message: er.Error}
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("intake %s: unexpected reply %q: %w", subject, msg.Data, err)
	}
	return nil
}

// OpenImport sends an open request and returns the reply as it is.
func (c *Client) OpenImport(ctx context.Context, req OpenRequest) (*OpenReply, error) {
	if req.Tenant == "" {
		return nil, errors.New("client: open: the tenant is required")
	}
	var rep OpenReply
	if err := c.request(ctx, req.Tenant, APISubject(req.Tenant, OpOpen), req, &rep, req.IdempotencyKey != ""); err != nil {
		return nil, err
	}
	if rep.ID == "" {
		return nil, fmt.Errorf("intake %s: reply without an import id", APISubject(req.Tenant, OpOpen))
	}
	return &rep, nil
}

// SealImport sends a seal request as it is. Import.Seal is what most callers want.
func (c *Client) SealImport(ctx context.Context, tenant string, req SealRequest) (*SealReply, error) {
	var rep SealReply
	if err := c.request(ctx, tenant, APISubject(tenant, OpSeal), req, &rep, true); err != nil {
		return nil, err
	}
	return &rep, nil
}

// Summary reads an import's summary with its first 100 row errors.
func (c *Client) Summary(ctx context.Context, tenant, id string) (*SummaryReply, error) {
	return c.SummaryOf(ctx, tenant, SummaryRequest{ID: id})
}

// SummaryOf sends a summary request as it is.
func (c *Client) SummaryOf(ctx context.Context, tenant string, req SummaryRequest) (*SummaryReply, error) {
	var s SummaryReply
	if err := c.request(ctx, tenant, APISubject(tenant, OpSummary), req, &s, true); err != nil {
		return nil, err
	}
	return &s, nil
}

// Open opens an import and returns the handle to publish its rows with.
func (c *Client) Open(ctx context.Context, req OpenRequest) (*Import, error) {
	rep, err := c.OpenImport(ctx, req)
	if err != nil {
		return nil, err
	}
	if rep.RowsMsgIDPrefix == "" {
		rep.RowsMsgIDPrefix = rep.ID + ":rows" // a server from before the prefix
	}
	return &Import{
		c: c, ID: rep.ID, Tenant: rep.Tenant, Options: rep.Options, Existing: rep.Existing,
		rowsSubject: subjects.For(subjects.Rows, rep.Tenant, rep.ID), eventsSubject: subjects.For(subjects.Events, rep.Tenant, rep.ID),
		rowsMsgIDPrefix: rep.RowsMsgIDPrefix,
		header:          slices.Clone(req.Header), nextRow: 2,
	}, nil
}

// Import is an open import. Its methods are safe to call from several
// goroutines, but rows are numbered in the order Publish is called.
type Import struct {
	ID       string
	Tenant   string
	Options  ImportOptions
	Existing bool // the idempotency key named an import opened before

	c           *Client
	rowsSubject string
	// rowsMsgIDPrefix starts each chunk's Nats-Msg-Id (OpenReply.RowsMsgIDPrefix).
	rowsMsgIDPrefix string
	eventsSubject   string

	mu       sync.Mutex
	header   []string
	nextRow  int               // number of the next row; the header is row 1
	buf      []envelope.RawRow // rows not yet in a chunk
	bufBytes int
	chunk    int // number of the next chunk
	rows     int // rows handed to Publish
	inflight []*pending
	err      error // sticky: the import cannot go on
	sealed   bool
	retries  int
}

type pending struct {
	msg     *nats.Msg
	fut     jetstream.PubAckFuture
	sent    time.Time
	attempt int
	chunk   int
	rows    int
}

// Publish adds rows (cells in header order) to the import. The first call
// gives the header (row 1), unless Open's request had it; later calls may
// pass nil or the same header. Rows are numbered from 2 in the order given,
// buffered into chunks and published asynchronously; Publish blocks while
// the in-flight window is full. An error is final: the import cannot go on
// (open a new one, or retry the whole import with the same idempotency key:
// chunks published again within 10 minutes are stored once).
func (im *Import) Publish(ctx context.Context, rows [][]string, header []string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if err := im.usable(); err != nil {
		return err
	}
	switch {
	case im.header == nil && header == nil:
		return errors.New("client: the first Publish of an import needs the header")
	case im.header == nil:
		im.header = slices.Clone(header)
	case header != nil && !slices.Equal(header, im.header):
		return fmt.Errorf("client: header %q differs from the import's header %q", header, im.header)
	}
	for _, cells := range rows {
		if cells == nil {
			cells = []string{}
		}
		im.buf = append(im.buf, envelope.RawRow{Row: im.nextRow, Cells: cells})
		im.nextRow++
		im.rows++
		for _, cell := range cells {
			im.bufBytes += len(cell) + 3
		}
		im.bufBytes += 24
		if len(im.buf) >= im.c.chunkSize || im.bufBytes >= im.c.maxChunkBytes {
			if err := im.flushBuf(ctx); err != nil {
				return im.fail(err)
			}
		}
	}
	return nil
}

// SkipRows leaves n row numbers unused, e.g. for blank lines of a file, so
// that row numbers stay those a spreadsheet shows.
func (im *Import) SkipRows(n int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.nextRow += max(n, 0)
}

// Flush publishes the buffered rows and waits until JetStream has stored
// every chunk published so far.
func (im *Import) Flush(ctx context.Context) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if err := im.usable(); err != nil {
		return err
	}
	return im.fail(im.flushAll(ctx))
}

// Seal flushes, waits until every chunk is stored, and seals the import with
// the number of rows published. Intake then completes the import once every
// row is accounted for.
func (im *Import) Seal(ctx context.Context) error { return im.seal(ctx, "") }

// Abandon seals the import with the rows published so far and a reason: it
// ends failed with that reason once they are accounted for. Use it when the
// source breaks part-way.
func (im *Import) Abandon(ctx context.Context, reason string) error {
	if reason == "" {
		reason = "abandoned by the publisher"
	}
	return im.seal(ctx, reason)
}

func (im *Import) seal(ctx context.Context, reason string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if err := im.usable(); err != nil {
		return err
	}
	if err := im.flushAll(ctx); err != nil {
		return im.fail(err)
	}
	total := im.rows
	if _, err := im.c.SealImport(ctx, im.Tenant, SealRequest{ID: im.ID, Total: &total, Reason: reason}); err != nil {
		return err // not sticky: sealing can be tried again
	}
	im.sealed = true
	return nil
}

// Wait returns the import's summary once it has finished (completed or
// failed), or the last summary read with ctx's error. It listens for the
// import's events (intake.events.<tenant>.<id>) and reads the summary when
// one arrives, and at least every poll interval.
func (im *Import) Wait(ctx context.Context) (*SummaryReply, error) {
	return im.c.Wait(ctx, im.Tenant, im.ID)
}

// Wait waits for an import to finish (see Import.Wait).
func (c *Client) Wait(ctx context.Context, tenant, id string) (*SummaryReply, error) {
	sub, err := c.nc.SubscribeSync(subjects.For(subjects.Events, tenant, id))
	if err == nil {
		defer func() { _ = sub.Unsubscribe() }()
	}
	var last *SummaryReply
	for {
		// Polls leave the row errors out; the final read has them.
		s, err := c.SummaryOf(ctx, tenant, SummaryRequest{ID: id, NoErrors: true})
		var ae *APIError
		switch {
		case err == nil:
			last = s
			if s.Done() {
				return c.Summary(ctx, tenant, id)
			}
		case ctx.Err() != nil:
			return last, ctx.Err()
		case errors.As(err, &ae) && ae.Code != CodeUnavailable:
			return last, err
		}
		wctx, cancel := context.WithTimeout(ctx, c.pollInterval)
		if sub != nil {
			_, _ = sub.NextMsgWithContext(wctx) // any event: read again
		} else {
			<-wctx.Done()
		}
		cancel()
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
	}
}

// Rows is the number of rows handed to Publish.
func (im *Import) Rows() int { im.mu.Lock(); defer im.mu.Unlock(); return im.rows }

// Chunks is the number of chunks published.
func (im *Import) Chunks() int { im.mu.Lock(); defer im.mu.Unlock(); return im.chunk }

// Retries is how often a chunk was published again after a timeout.
func (im *Import) Retries() int { im.mu.Lock(); defer im.mu.Unlock(); return im.retries }

func (im *Import) usable() error {
	switch {
	case im.err != nil:
		return im.err
	case im.sealed:
		return ErrSealed
	}
	return nil
}

// fail makes err sticky.
func (im *Import) fail(err error) error {
	if err != nil && im.err == nil {
		im.err = err
	}
	return err
}

func (im *Import) flushAll(ctx context.Context) error {
	if err := im.flushBuf(ctx); err != nil {
		return err
	}
	for len(im.inflight) > 0 {
		if err := im.settle(ctx, im.inflight[0]); err != nil {
			return err
		}
		im.inflight = im.inflight[1:]
	}
	return nil
}

// flushBuf publishes the buffered rows as one chunk, or more when it would
// be too large.
func (im *Import) flushBuf(ctx context.Context) error {
	if len(im.buf) == 0 {
		return nil
	}
	rows := im.buf
	im.buf, im.bufBytes = make([]envelope.RawRow, 0, min(im.c.chunkSize, 4096)), 0
	return im.publishRows(ctx, rows)
}

func (im *Import) publishRows(ctx context.Context, rows []envelope.RawRow) error {
	ch := envelope.RowChunk{
		Tenant: im.Tenant, Import: im.ID, Chunk: im.chunk, Header: im.header, Rows: rows,
		Options: envelope.Options{Schema: im.Options.Schema, Mode: im.Options.Mode, Key: im.Options.Key, DryRun: im.Options.DryRun, Mapping: im.Options.Mapping, DateFormat: im.Options.DateFormat},
	}
	data, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("client: encode chunk %d: %w", im.chunk, err)
	}
	if len(data) > im.c.maxChunkBytes {
		if len(rows) > 1 {
			half := len(rows) / 2
			if err := im.publishRows(ctx, rows[:half]); err != nil {
				return err
			}
			return im.publishRows(ctx, rows[half:])
		}
		return fmt.Errorf("%w: row %d of import %s is %d bytes as JSON, more than the %d bytes a chunk may have", ErrChunkTooLarge, rows[0].Row, im.ID, len(data), im.c.maxChunkBytes)
	}
	for len(im.inflight) >= im.c.maxInFlight {
		if err := im.settle(ctx, im.inflight[0]); err != nil {
			return err
		}
		im.inflight = im.inflight[1:]
	}
	m := &nats.Msg{Subject: im.rowsSubject, Data: data, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, subjects.RowsMsgID(im.rowsMsgIDPrefix, im.chunk))
	p := &pending{msg: m, chunk: im.chunk, rows: len(rows)}
	if err := im.send(ctx, p); err != nil {
		return err
	}
	im.chunk++
	im.inflight = append(im.inflight, p)
	return nil
}

// send publishes p (again), retrying errors of the publish call itself.
func (im *Import) send(ctx context.Context, p *pending) error {
	for {
		fut, err := im.c.js.PublishMsgAsync(p.msg)
		if err == nil {
			p.fut, p.sent = fut, time.Now()
			return nil
		}
		if errors.Is(err, nats.ErrMaxPayload) {
			return fmt.Errorf("%w: chunk %d of import %s (%d bytes, %d rows): %v", ErrChunkTooLarge, p.chunk, im.ID, len(p.msg.Data), p.rows, err)
		}
		if p.attempt >= im.c.maxRetries || errors.Is(err, nats.ErrConnectionClosed) {
			return fmt.Errorf("client: publish chunk %d of import %s: %w", p.chunk, im.ID, err)
		}
		p.attempt++
		im.retries++
		t := time.NewTimer(im.c.ackWait(p.attempt) / 10)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ackWait is how long attempt n (from 0) waits for its acknowledgement.
func (c *Client) ackWait(n int) time.Duration {
	d := c.ackTimeout
	for i := 0; i < n && d < maxAckWait; i++ {
		d *= 2
	}
	return min(d, maxAckWait)
}

// settle waits until JetStream has stored p, publishing it again (same
// Nats-Msg-Id) when the acknowledgement does not come in time.
func (im *Import) settle(ctx context.Context, p *pending) error {
	for {
		t := time.NewTimer(max(im.c.ackWait(p.attempt)-time.Since(p.sent), 0))
		var cause error
		select {
		case <-p.fut.Ok():
			t.Stop()
			return nil
		case err := <-p.fut.Err():
			t.Stop()
			if tooLarge(err) {
				return fmt.Errorf("%w: chunk %d of import %s (%d bytes, %d rows) was refused by the stream: %v; publish fewer rows per chunk (WithChunkSize, WithMaxChunkBytes)",
					ErrChunkTooLarge, p.chunk, im.ID, len(p.msg.Data), p.rows, err)
			}
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				return fmt.Errorf("client: chunk %d of import %s was refused: %w", p.chunk, im.ID, err)
			}
			cause = err
		case <-t.C:
			cause = fmt.Errorf("no acknowledgement within %s", im.c.ackWait(p.attempt))
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		if p.attempt >= im.c.maxRetries {
			hint := ""
			if le := im.c.nc.LastError(); le != nil && strings.Contains(strings.ToLower(le.Error()), "permissions violation") {
				hint = " (the server reported: " + le.Error() + ")"
			}
			return fmt.Errorf("client: chunk %d of import %s not stored after %d attempts: %v%s", p.chunk, im.ID, p.attempt+1, cause, hint)
		}
		p.attempt++
		im.retries++
		if err := im.send(ctx, p); err != nil {
			return err
		}
	}
}

func tooLarge(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}
