package upstream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// deploy/nats/accounts.conf confines a tenant's NATS user to its own
// subjects: nats-server started from it lets tenant acme publish rows and
// make requests for acme, and refuses acme's publishes and subscriptions on
// globex's subjects and on the JetStream API.
func TestAccountsConfConfinesTenants(t *testing.T) {
	for _, v := range []string{"INTAKE_NATS_PASSWORD", "ACME_NATS_PASSWORD", "GLOBEX_NATS_PASSWORD", "SYS_NATS_PASSWORD"} {
		t.Setenv(v, "pw-"+strings.ToLower(strings.Split(v, "_")[0]))
	}
	opts, err := server.ProcessConfigFile("../../deploy/nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.JetStream || opts.MaxPayload != 8<<20 {
		t.Fatalf("jetstream %v, max_payload %d", opts.JetStream, opts.MaxPayload)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx := ctxFor(t, time.Minute)

	// The services' user: creates the streams and answers acme's requests.
	svc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("intake", "pw-intake"))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svcJS, err := jetstream.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Ensure(ctx, svcJS, streams.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe(client.APISubject("*", client.OpOpen), func(m *nats.Msg) { _ = m.Respond([]byte(`{"id":"imp_1"}`)) }); err != nil {
		t.Fatal(err)
	}
	_ = svc.Flush()

	if _, err := nats.Connect(ns.ClientURL(), nats.UserInfo("acme", "wrong")); err == nil {
		t.Fatal("connected with a wrong password")
	}
	violations := make(chan error, 16)
	acme, err := nats.Connect(ns.ClientURL(), nats.UserInfo("acme", "pw-acme"), nats.CustomInboxPrefix("_INBOX.acme"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	acmeJS, err := jetstream.New(acme)
	if err != nil {
		t.Fatal(err)
	}
	expectViolation := func(what string) {
		t.Helper()
		select {
		case err := <-violations:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), what) {
				t.Fatalf("got %v, want a permissions violation for %s", err, what)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no permissions violation for %s", what)
		}
	}

	// Allowed: its own rows (stored, with the JetStream acknowledgement
	// arriving on its inbox) and requests on its own API subjects.
	own := nats.NewMsg(subjects.For(subjects.Rows, "acme", "imp_1"))
	own.Data = []byte(`{}`)
	own.Header.Set(jetstream.MsgIDHeader, "imp_1:rows:0")
	if _, err := acmeJS.PublishMsg(ctx, own); err != nil {
		t.Fatalf("acme publishing its own rows: %v", err)
	}
	if rep, err := acme.Request(client.APISubject("acme", client.OpOpen), []byte(`{}`), 5*time.Second); err != nil || string(rep.Data) != `{"id":"imp_1"}` {
		t.Fatalf("acme's open request: %v %v", rep, err)
	}
	if _, err := acme.SubscribeSync(subjects.For(subjects.Events, "acme", "imp_1")); err != nil {
		t.Fatal(err)
	}

	// Denied: another tenant's rows.
	if err := acme.Publish("intake.rows.globex.x", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	_ = acme.Flush()
	expectViolation(`Publish to "intake.rows.globex.x"`)
	// ... another tenant's API and events, and the JetStream API.
	_ = acme.Publish(client.APISubject("globex", client.OpOpen), []byte(`{}`))
	_ = acme.Flush()
	expectViolation(`Publish to "intake.api.v1.globex.open"`)
	if _, err := acme.SubscribeSync("intake.events.globex.>"); err != nil {
		t.Fatal(err)
	}
	_ = acme.Flush()
	expectViolation(`Subscription to "intake.events.globex.>"`)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := acmeJS.Stream(sctx, subjects.StreamRows); err == nil {
		t.Fatal("acme may read stream info")
	}
	expectViolation(`Publish to "$JS.API.STREAM.INFO.INTAKE_ROWS"`)
	// ... and the other tenants' replies.
	if _, err := acme.SubscribeSync("_INBOX.globex.>"); err != nil {
		t.Fatal(err)
	}
	_ = acme.Flush()
	expectViolation(`Subscription to "_INBOX.globex.>"`)

	// Only acme's own chunk was stored.
	st, err := svcJS.Stream(ctx, subjects.StreamRows)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d messages in %s, want acme's one", info.State.Msgs, subjects.StreamRows)
	}
}
