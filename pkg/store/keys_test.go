package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/store/storetest"
)

// newStore starts a real in-process FerretDB and returns a store on it.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	return storetest.Embedded(t)
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// keyServer serves /read (imports:read) and /write (imports:write) behind
// API-key authentication against s.
func keyServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	a, err := auth.New(auth.Config{FailuresPerMinute: -1}, s)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/read", auth.Require(auth.CapImportsRead, nil)(ok))
	mux.Handle("/write", auth.Require(auth.CapImportsWrite, nil)(ok))
	srv := httptest.NewServer(a.Middleware(nil)(mux))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sameKey(a, b auth.Key) bool {
	return a.ID == b.ID && a.Prefix == b.Prefix && a.Name == b.Name && a.Tenant == b.Tenant &&
		slices.Equal(a.Capabilities, b.Capabilities) && a.CreatedAt.Equal(b.CreatedAt) &&
		(a.RevokedAt == nil) == (b.RevokedAt == nil)
}

func TestKeys(t *testing.T) {
	s := newStore(t)
	ctx := ctxFor(t)
	srv := keyServer(t, s)

	t.Run("create and look up; the plaintext is never stored", func(t *testing.T) {
		plain, k, err := s.CreateKey(ctx, "acme", " ci upload ", []string{auth.CapImportsWrite, auth.CapImportsRead, auth.CapImportsWrite})
		if err != nil {
			t.Fatal(err)
		}
		hash := auth.HashKey(plain)
		if !strings.HasPrefix(plain, "ik_") || k.ID != hash[:12] || k.Prefix != plain[:8] || k.Name != "ci upload" ||
			k.Tenant != "acme" || !slices.Equal(k.Capabilities, []string{"imports:read", "imports:write"}) || k.RevokedAt != nil {
			t.Fatalf("key %+v for %s...", k, plain[:8])
		}
		got, found, err := s.LookupKey(ctx, hash)
		if err != nil || !found || !sameKey(got, k) {
			t.Fatalf("lookup: %+v %v %v, want %+v", got, found, err, k)
		}
		for _, h := range []string{auth.HashKey("ik_other"), "not-a-hash", strings.ToUpper(hash), ""} {
			if _, found, err := s.LookupKey(ctx, h); found || err != nil {
				t.Fatalf("lookup %q: found %v err %v", h, found, err)
			}
		}

		// The document, as FerretDB has it.
		var raw bson.Raw
		if err := s.Meta.Collection("api_keys").FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		var doc bson.M
		if err := bson.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		var fields []string
		for f := range doc {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		if strings.Join(fields, ",") != "_id,capabilities,created_at,name,prefix,tenant" {
			t.Fatalf("fields %v", fields)
		}
		if doc["_id"] != hash || doc["prefix"] != plain[:8] {
			t.Fatalf("_id %v prefix %v", doc["_id"], doc["prefix"])
		}
		// No part of the key past the stored prefix is anywhere in the collection.
		cur, err := s.Meta.Collection("api_keys").Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var all []bson.Raw
		if err := cur.All(ctx, &all); err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			if bytes.Contains(d, []byte(plain[8:])) || bytes.Contains(d, []byte(plain[3:20])) {
				t.Fatalf("key material stored: %s", d)
			}
		}

		if st, body := get(t, srv, "/write", plain); st != 200 {
			t.Fatalf("key refused: %d %s", st, body)
		}
	})

	t.Run("invalid keys are not created", func(t *testing.T) {
		for _, tc := range []struct {
			tenant, name string
			caps         []string
		}{
			{"a.b", "n", []string{"admin"}},
			{"", "n", []string{"admin"}},
			{"acme", " ", []string{"admin"}},
			{"acme", "n", nil},
			{"acme", "n", []string{"imports read"}},
			{"acme", "n", []string{""}},
		} {
			if _, _, err := s.CreateKey(ctx, tc.tenant, tc.name, tc.caps); err == nil {
				t.Errorf("CreateKey(%q, %q, %q) succeeded", tc.tenant, tc.name, tc.caps)
			}
		}
	})

	t.Run("listing is per tenant", func(t *testing.T) {
		var want []string
		for _, tenant := range []string{"list-a", "list-b", "list-a"} {
			_, k, err := s.CreateKey(ctx, tenant, "k", []string{auth.CapImportsRead})
			if err != nil {
				t.Fatal(err)
			}
			if tenant == "list-a" {
				want = append(want, k.ID)
			}
			// Creation times are kept to the millisecond (keys created in the
			// same one are listed by hash): let the next key be younger.
			for start := k.CreatedAt; !time.Now().UTC().Truncate(time.Millisecond).After(start); {
				time.Sleep(100 * time.Microsecond)
			}
		}
		for _, tc := range []struct {
			tenant string
			n      int
		}{{"list-a", 2}, {"list-b", 1}, {"nobody", 0}} {
			keys, err := s.ListKeys(ctx, tc.tenant)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tc.n {
				t.Fatalf("%s: %d keys, want %d", tc.tenant, len(keys), tc.n)
			}
			for _, k := range keys {
				if k.Tenant != tc.tenant {
					t.Fatalf("%s sees a key of %s", tc.tenant, k.Tenant)
				}
			}
			if tc.tenant == "list-a" && (keys[0].ID != want[0] || keys[1].ID != want[1]) {
				t.Fatalf("order %s %s, want %v (oldest first)", keys[0].ID, keys[1].ID, want)
			}
		}
		all, err := s.ListKeys(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		tenants := map[string]int{}
		for _, k := range all {
			tenants[k.Tenant]++
		}
		if tenants["list-a"] != 2 || tenants["list-b"] != 1 || tenants["acme"] == 0 {
			t.Fatalf("all keys by tenant: %v", tenants)
		}
		if _, err := s.ListKeys(ctx, "bad tenant"); err == nil {
			t.Fatal("listing an invalid tenant succeeded")
		}
	})

	t.Run("a revoked key stops working", func(t *testing.T) {
		plain, k, err := s.CreateKey(ctx, "rev", "to revoke", []string{auth.CapImportsRead})
		if err != nil {
			t.Fatal(err)
		}
		other, ko, err := s.CreateKey(ctx, "rev", "by hash", []string{auth.CapImportsRead})
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := get(t, srv, "/read", plain); st != 200 {
			t.Fatalf("before revoking: %d", st)
		}
		for _, tc := range []struct{ tenant, id string }{
			{"another", k.ID},                // another tenant's key does not exist for it
			{"another", auth.HashKey(plain)}, // nor by hash
			{"rev", "0123456789ab"},          // no such key
			{"rev", k.ID[:8]},                // not an ID
			{"rev", strings.ToUpper(k.ID)},   // not an ID
			{"rev", plain},                   // the key itself is not an ID
		} {
			if err := s.RevokeKey(ctx, tc.tenant, tc.id); !errors.Is(err, store.ErrKeyNotFound) {
				t.Fatalf("RevokeKey(%q, %q): %v, want ErrKeyNotFound", tc.tenant, tc.id, err)
			} else if strings.Contains(err.Error(), plain) {
				t.Fatalf("error echoes the key: %v", err)
			}
		}
		if st, _ := get(t, srv, "/read", plain); st != 200 {
			t.Fatalf("after failed revocations: %d", st)
		}

		if err := s.RevokeKey(ctx, "rev", k.ID); err != nil {
			t.Fatal(err)
		}
		got, found, err := s.LookupKey(ctx, auth.HashKey(plain))
		if err != nil || !found || got.RevokedAt == nil {
			t.Fatalf("after revoking: %+v %v %v", got, found, err)
		}
		if st, body := get(t, srv, "/read", plain); st != 401 || !strings.Contains(body, "revoked") {
			t.Fatalf("revoked key: %d %s", st, body)
		}
		// Again: nothing changes.
		if err := s.RevokeKey(ctx, "rev", k.ID); err != nil {
			t.Fatal(err)
		}
		again, _, _ := s.LookupKey(ctx, auth.HashKey(plain))
		if !again.RevokedAt.Equal(*got.RevokedAt) {
			t.Fatalf("revoked_at moved from %s to %s", got.RevokedAt, again.RevokedAt)
		}

		// An administrator ("" tenant) by full hash.
		if err := s.RevokeKey(ctx, "", auth.HashKey(other)); err != nil {
			t.Fatal(err)
		}
		if st, _ := get(t, srv, "/read", other); st != 401 {
			t.Fatalf("key %s revoked by hash: %d", ko.ID, st)
		}
		keys, err := s.ListKeys(ctx, "rev")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.RevokedAt == nil {
				t.Fatalf("listed as live: %+v", k)
			}
		}
	})

	t.Run("bootstrap key is idempotent", func(t *testing.T) {
		plain := "operator-chosen-bootstrap-key-0123456789"
		first, err := s.EnsureBootstrapKey(ctx, plain)
		if err != nil {
			t.Fatal(err)
		}
		wantCaps := auth.AllCapabilities()
		slices.Sort(wantCaps)
		if first.Tenant != "default" || first.Name != "bootstrap" || !slices.Equal(first.Capabilities, wantCaps) {
			t.Fatalf("bootstrap key %+v", first)
		}
		// Again, and from several instances at once.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				k, err := s.EnsureBootstrapKey(ctx, plain)
				if err == nil && !sameKey(k, first) {
					err = errors.New("a different key: " + k.ID + " " + k.CreatedAt.String())
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.Meta.Collection("api_keys").CountDocuments(ctx, bson.D{{Key: "_id", Value: auth.HashKey(plain)}})
		if err != nil || n != 1 {
			t.Fatalf("%d bootstrap documents (%v), want 1", n, err)
		}
		if st, body := get(t, srv, "/write", plain); st != 200 {
			t.Fatalf("bootstrap key: %d %s", st, body)
		}
		keys, err := s.ListKeys(ctx, "default")
		if err != nil || len(keys) != 1 || keys[0].ID != first.ID {
			t.Fatalf("default tenant keys %+v (%v)", keys, err)
		}

		// Revoked stays revoked.
		if err := s.RevokeKey(ctx, "default", first.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnsureBootstrapKey(ctx, plain); !errors.Is(err, store.ErrKeyRevoked) || strings.Contains(err.Error(), plain) {
			t.Fatalf("bootstrap of a revoked key: %v, want ErrKeyRevoked without the key", err)
		}
		if st, _ := get(t, srv, "/write", plain); st != 401 {
			t.Fatalf("revoked bootstrap key: %d", st)
		}

		// A bootstrap key stored by a version before the operator
		// capability (admin and the rest) becomes the operator at start.
		old := "bootstrap-key-of-an-older-version-0123456789"
		if _, err := s.Meta.Collection("api_keys").InsertOne(ctx, bson.D{
			{Key: "_id", Value: auth.HashKey(old)}, {Key: "prefix", Value: auth.KeyPrefix(old)}, {Key: "name", Value: "bootstrap"},
			{Key: "tenant", Value: "default"}, {Key: "capabilities", Value: []string{"admin", "imports:read", "imports:write", "schemas:write"}},
			{Key: "created_at", Value: time.Now().UTC().Truncate(time.Millisecond)},
		}); err != nil {
			t.Fatal(err)
		}
		upgraded, err := s.EnsureBootstrapKey(ctx, old)
		if err != nil || !slices.Equal(upgraded.Capabilities, wantCaps) {
			t.Fatalf("older bootstrap key after start: %+v (%v), want capabilities %v", upgraded, err, wantCaps)
		}
		if k, found, err := s.LookupKey(ctx, auth.HashKey(old)); err != nil || !found || !slices.Contains(k.Capabilities, auth.CapOperator) {
			t.Fatalf("older bootstrap key as stored: %+v %v %v, want operator", k, found, err)
		}

		// A weak key is refused, without repeating it.
		if _, err := s.EnsureBootstrapKey(ctx, "changeme"); err == nil || strings.Contains(err.Error(), "changeme") {
			t.Fatalf("weak bootstrap key: %v", err)
		}
	})
}
