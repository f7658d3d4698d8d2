package upstream_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/upstream"
)

// accountsServer starts nats-server from deploy/nats/accounts.conf, on a
// random loopback port with its store in a temporary directory; every
// user's password is pw-<user>.
func accountsServer(t *testing.T) *server.Server {
	t.Helper()
	for _, v := range []string{"INTAKE_NATS_PASSWORD", "UPSTREAM_NATS_PASSWORD", "ACME_NATS_PASSWORD", "GLOBEX_NATS_PASSWORD", "SYS_NATS_PASSWORD"} {
		t.Setenv(v, "pw-"+strings.ToLower(strings.Split(v, "_")[0]))
	}
	opts, err := server.ProcessConfigFile("../../deploy/nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.JetStream || opts.MaxPayload != 8<<20 {
		t.Fatalf("jetstream %v, max_payload %d", opts.JetStream, opts.MaxPayload)
	}
	opts.StoreDir = "" // the test's, not the file's /data
	return natstest.Start(t, opts)
}

func connectAs(t *testing.T, ns *server.Server, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), append([]nats.Option{nats.UserInfo(user, "pw-"+user)}, opts...)...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// deploy/nats/accounts.conf confines each tenant to its own subjects: a
// tenant's account reaches its own API, rows and events, nothing of another
// tenant's, and no JetStream API at all.
func TestAccountsConfConfinesTenants(t *testing.T) {
	ns := accountsServer(t)
	ctx := ctxFor(t, time.Minute)

	// The services' user: creates the streams and answers acme's requests.
	svc := connectAs(t, ns, "intake")
	svcJS, err := jetstream.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Ensure(ctx, svcJS, streams.Config{}); err != nil {
		t.Fatal(err)
	}
	requests := make(chan *nats.Msg, 4)
	if _, err := svc.Subscribe(client.APISubject("*", client.OpOpen), func(m *nats.Msg) { requests <- m; _ = m.Respond([]byte(`{"id":"imp_1"}`)) }); err != nil {
		t.Fatal(err)
	}
	_ = svc.Flush()

	if _, err := nats.Connect(ns.ClientURL(), nats.UserInfo("acme", "wrong")); err == nil {
		t.Fatal("connected with a wrong password")
	}
	acme := connectAs(t, ns, "acme")
	acmeJS, err := jetstream.New(acme)
	if err != nil {
		t.Fatal(err)
	}

	// Allowed: its own rows (stored, with the JetStream acknowledgement
	// coming back to acme) and requests on its own API subjects, which
	// arrive with a reply subject nats-server made.
	own := nats.NewMsg(subjects.For(subjects.Rows, "acme", "imp_1"))
	own.Data = []byte(`{}`)
	if _, err := acmeJS.PublishMsg(ctx, own); err != nil {
		t.Fatalf("acme publishing its own rows: %v", err)
	}
	if rep, err := acme.Request(client.APISubject("acme", client.OpOpen), []byte(`{}`), 5*time.Second); err != nil || string(rep.Data) != `{"id":"imp_1"}` {
		t.Fatalf("acme's open request: %v %v", rep, err)
	}
	if req := <-requests; req.Subject != "intake.api.v1.acme.open" || !strings.HasPrefix(req.Reply, "_R_.") {
		t.Fatalf("the service got %s with reply %s, want intake.api.v1.acme.open with a _R_ reply", req.Subject, req.Reply)
	}
	events, err := acme.SubscribeSync(subjects.All(subjects.Events))
	if err != nil {
		t.Fatal(err)
	}
	_ = acme.Flush()

	// Not reachable: another tenant's rows and API, whatever the reply
	// subject, and the JetStream API.
	for _, subject := range []string{"intake.rows.globex.x", client.APISubject("globex", client.OpOpen)} {
		if err := acme.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	_ = acme.Flush()
	select {
	case m := <-requests:
		t.Fatalf("the service got acme's %s", m.Subject)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := svcJS.Publish(ctx, subjects.For(subjects.Events, "globex", "imp_2"), []byte(`{"type":"opened"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := svcJS.Publish(ctx, subjects.For(subjects.Events, "acme", "imp_1"), []byte(`{"type":"opened"}`)); err != nil {
		t.Fatal(err)
	}
	if m, err := events.NextMsg(5 * time.Second); err != nil || m.Subject != "intake.events.acme.imp_1" {
		t.Fatalf("acme's first event: %v %v, want its own", m, err)
	}
	if m, err := events.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("acme also saw %s", m.Subject)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := acmeJS.Stream(sctx, subjects.StreamRows); err == nil {
		t.Fatal("acme may read stream info")
	}

	// Only acme's own chunk was stored.
	st, err := svcJS.Stream(ctx, subjects.StreamRows)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subjects.All(subjects.Rows)))
	if err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		for subject := range info.State.Subjects {
			return subjects.Unpartitioned(subject)
		}
		return ""
	}
	if info.State.Msgs != 1 || stored() != "intake.rows.acme.imp_1" {
		t.Fatalf("%d messages in %s (%v), want acme's one", info.State.Msgs, subjects.StreamRows, info.State.Subjects)
	}
}

// Intake running on deploy/nats/accounts.conf, the upstream service under
// its own restricted user: a tenant that knows another tenant's import ID
// and idempotency key can neither read that import, nor block it, nor
// change it, whatever reply subjects and message IDs it uses.
func TestTenantCannotTakeOverAnotherTenantsImport(t *testing.T) {
	ns := accountsServer(t)
	ferret, mc := ferrettest.Start(t, "")
	ctx := ctxFor(t, 3*time.Minute)
	runIntake(t, ns, "intake", ferret.URI(), []string{"ingest", "validator", "deduplicator", "writer", "reporter"})
	runIntake(t, ns, "upstream", ferret.URI(), []string{"upstream"})

	acmeNC, globexNC := connectAs(t, ns, "acme"), connectAs(t, ns, "globex")
	acme, globex := clientOn(t, acmeNC), clientOn(t, globexNC)
	waitForUpstream(t, ctx, globex, "globex")

	// 1. acme asks for an import under globex's idempotency key, with its
	// answer aimed at globex's entry of the idempotency bucket.
	const key = "nightly-2026-12-01"
	bucketSubject := "$KV." + upstream.IdempotencyBucket + ".globex." + base64.RawURLEncoding.EncodeToString([]byte(key))
	open, _ := json.Marshal(client.OpenRequest{Schema: "contacts", IdempotencyKey: key})
	for _, reply := range []string{bucketSubject, "intake.rows.globex.imp_x", "intake.outcomes.globex.imp_x"} {
		m := nats.NewMsg(client.APISubject("acme", client.OpOpen))
		m.Reply, m.Data = reply, open
		if err := acmeNC.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		// ... and a row chunk whose JetStream acknowledgement is aimed there.
		r := nats.NewMsg(subjects.For(subjects.Rows, "acme", "imp_x"))
		r.Reply, r.Data = reply, []byte(`{}`)
		if err := acmeNC.PublishMsg(r); err != nil {
			t.Fatal(err)
		}
	}
	_ = acmeNC.Flush()

	// globex opens with that key: a new import of its own.
	rows, want, _ := contacts(5, "globex")
	g, err := globex.Open(ctx, client.OpenRequest{Tenant: "globex", Schema: "contacts", Header: contactsHeader, IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if g.Existing || g.Tenant != "globex" {
		t.Fatalf("globex's open with its key: existing %v, tenant %s; want a new import of globex's", g.Existing, g.Tenant)
	}

	// 2. acme, knowing globex's import ID, publishes rows with the same
	// emails under that ID first, with every message ID globex might use.
	forged := envelope.RowChunk{Tenant: "acme", Import: g.ID, Options: envelope.Options{Schema: "contacts", Mode: "upsert", Key: "email"}, Header: contactsHeader}
	for i, r := range rows {
		forged.Rows = append(forged.Rows, envelope.RawRow{Row: i + 100, Cells: r}) // rows of its own numbers: a row is never a duplicate of itself
	}
	data, _ := json.Marshal(forged)
	acmeJS, err := jetstream.New(acmeNC)
	if err != nil {
		t.Fatal(err)
	}
	for _, msgID := range []string{g.ID + ":rows:0", "globex." + g.ID + ":rows:0", subjects.MsgID("globex", g.ID, "rows", 0)} {
		m := nats.NewMsg(subjects.For(subjects.Rows, "acme", g.ID))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, msgID)
		if _, err := acmeJS.PublishMsg(ctx, m); err != nil {
			t.Fatalf("acme's forged chunk %s: %v", msgID, err)
		}
	}
	// ... and tries to seal it, read it and read its errors.
	var ae *client.APIError
	total := 1
	if _, err := acme.SealImport(ctx, "acme", client.SealRequest{ID: g.ID, Total: &total}); !errors.As(err, &ae) || ae.Code != client.CodeNotFound {
		t.Fatalf("acme sealing globex's import: %v, want not found", err)
	}

	// The forged chunk went through the pipeline (as acme's own rows, into
	// acme's own records) before globex publishes a row.
	for {
		n, err := mc.Database("intake_records").Collection("records.acme.contacts").CountDocuments(ctx, bson.D{})
		if err == nil && int(n) == want.Created {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("acme's forged rows were not written: %d records, %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// globex's import is untouched: every row is its own, none a duplicate
	// of acme's, and its counts are exact.
	sum := publishSealWait(t, ctx, g, rows, nil)
	if sum.Status != client.StatusCompleted || sum.Total != want.Total || sum.Created != want.Created || sum.Skipped != want.Skipped || sum.Failed != want.Failed {
		t.Fatalf("globex's summary %+v, want completed with created %d, skipped %d, failed %d", *sum, want.Created, want.Skipped, want.Failed)
	}
	for _, e := range sum.Errors {
		if strings.Contains(e.Message, "duplicate") {
			t.Fatalf("globex's row %d is reported %q", e.Row, e.Message)
		}
	}
	if s, err := acme.Summary(ctx, "acme", g.ID); !errors.As(err, &ae) || ae.Code != client.CodeNotFound {
		t.Fatalf("acme reading globex's import: %+v %v, want not found", s, err)
	}
	// The idempotency key still names globex's import.
	again, err := globex.OpenImport(ctx, client.OpenRequest{Tenant: "globex", Schema: "contacts", IdempotencyKey: key})
	if err != nil || again.ID != g.ID || !again.Existing {
		t.Fatalf("globex's key again: %+v %v, want %s", again, err, g.ID)
	}

	// Nothing of acme's landed on globex's subjects.
	svc := connectAs(t, ns, "intake")
	js, err := jetstream.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	for stream, subject := range map[string]string{subjects.StreamRows: "intake.rows.globex.imp_x", subjects.StreamEvents: "intake.events.globex.imp_x"} {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := st.GetLastMsgForSubject(ctx, subject); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("%s holds %v (%v)", subject, m, err)
		}
	}
	kv, err := js.KeyValue(ctx, upstream.IdempotencyBucket)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(ctx, strings.TrimPrefix(bucketSubject, "$KV."+upstream.IdempotencyBucket+"."))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(entry.Value(), &rec); err != nil || rec.ID != g.ID {
		t.Fatalf("globex's idempotency entry holds %s", entry.Value())
	}
	// globex's records are its five rows' people, and no more.
	n, err := mc.Database("intake_records").Collection("records.globex.contacts").CountDocuments(ctx, bson.D{})
	if err != nil || int(n) != want.Created {
		t.Fatalf("globex has %d records (%v), want %d", n, err, want.Created)
	}
}

// runIntake runs app.Run with the targets, connected to ns as user and to
// the FerretDB at mongoURI, until the test ends; it returns once Intake is
// ready.
func runIntake(t *testing.T, ns *server.Server, user, mongoURI string, targets []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	natsURL := fmt.Sprintf("nats://%s:pw-%s@%s", user, user, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	go func() {
		done <- app.Run(ctx, app.Config{
			Targets: targets, NATSURL: natsURL, MongoURI: mongoURI, DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
			Ready: func(app.Info) { close(ready) },
		}, zap.NewNop())
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("intake %v: %v", targets, err)
			}
		case <-time.After(time.Minute):
			t.Errorf("intake %v did not stop within a minute", targets)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("intake %v as %s did not start: %v", targets, user, err)
	case <-time.After(90 * time.Second):
		t.Fatalf("intake %v did not start within 90s", targets)
	}
}

// waitForUpstream waits until the upstream service answers tenant's requests.
func waitForUpstream(t *testing.T, ctx context.Context, c *client.Client, tenant string) {
	t.Helper()
	for {
		_, err := c.Summary(ctx, tenant, "imp_none")
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Code == client.CodeNotFound {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the upstream service does not answer %s: %v", tenant, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
