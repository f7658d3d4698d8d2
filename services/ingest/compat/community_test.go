package compat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
)

const communityCSV = "First Name,Last Name,Username,Email,Phone,Country,Language,Role,Tag\n" +
	"Ann,Smith,annsmith,ann@example.com,+6591234567,Singapore,English,\"Member,VIP\",trader\n"

// The seed's request: data (the file) first, then communityId.
func TestCommunitySeedRequest(t *testing.T) {
	for path, mode := range map[string]string{"/apis/v1/users/bulk-import": envelope.ModeUpsert, "/apis/v1/users/bulk-update": envelope.ModeUpdate} {
		imp := &fakeImporter{}
		base, creds := communityServer(t, imp, nil)
		r := post(t, base+path, creds, file("data", "users.csv", communityCSV), field("communityId", "comm1"))
		expect(t, r, 200, `{}`)
		if _, body := imp.lastCSV(t, "comm1", "users.csv", envelope.Options{Schema: "community_users", Mode: mode}, ""); body != communityCSV {
			t.Fatalf("%s submitted %q", path, body)
		}
	}
}

func TestCommunityBadRequests(t *testing.T) {
	imp := &fakeImporter{}
	base, creds := communityServer(t, imp, nil)
	cases := []struct {
		name   string
		parts  []part
		status int
		msg    string
	}{
		// The seed's example, placeholders and all: an empty file and communityId.
		{"seed placeholders", []part{file("data", "x.csv", ""), field("communityId", "")}, 400, "communityId is required"},
		{"no communityId", []part{file("data", "u.csv", communityCSV)}, 400, "communityId is required"},
		{"communityId not subject-safe", []part{file("data", "u.csv", communityCSV), field("communityId", "a b")}, 400,
			"communityId: not a valid community ID (1-64 characters of A-Z a-z 0-9 _ -)"},
		{"no data", []part{field("communityId", "comm1")}, 400, "no file: send the CSV file in a multipart field named \"data\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, post(t, base+"/apis/v1/users/bulk-import", creds, c.parts...), c.status, js(map[string]any{"message": c.msg}))
		})
	}
	if imp.count() != 0 {
		t.Fatal("a bad request was submitted")
	}
}

func TestCommunityLogs(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var asked struct {
		tenant string
		limit  int
	}
	list := func(_ context.Context, tenant string, limit int) ([]client.Summary, error) {
		asked.tenant, asked.limit = tenant, limit
		return []client.Summary{
			{ID: "imp_3", Tenant: tenant, Status: "processing", Schema: "community_users", Mode: "update", Source: "b.csv", Total: 10, Processed: 4, Counts: envelope.Counts{Updated: 4}, CreatedAt: &at},
			{ID: "imp_2", Tenant: tenant, Status: "completed", Schema: "contacts", Mode: "upsert"},
			{ID: "imp_1", Tenant: tenant, Status: "completed", Schema: "community_users", Mode: "upsert", Source: "a.csv", Total: 3, Processed: 3,
				Counts: envelope.Counts{Created: 1, Skipped: 1, Failed: 1}, CreatedAt: &at, CompletedAt: &at},
		}, nil
	}
	imp := &fakeImporter{}
	base, creds := communityServer(t, imp, list)
	r := get(t, base+"/apis/v1/users/bulk-import/logs?communityId=comm1", creds)
	expect(t, r, 200, `{"communityId":"comm1","logs":[
		{"id":"imp_3","type":"bulk-update","status":"processing","file":"b.csv","total":10,"processed":4,"created":0,"updated":4,"skipped":0,"failed":0,"created_at":"2026-03-01T12:00:00Z"},
		{"id":"imp_1","type":"bulk-import","status":"completed","file":"a.csv","total":3,"processed":3,"created":1,"updated":0,"skipped":1,"failed":1,"created_at":"2026-03-01T12:00:00Z","completed_at":"2026-03-01T12:00:00Z"}]}`)
	if asked.tenant != "comm1" || asked.limit != 200 {
		t.Fatalf("listed %+v", asked)
	}
	r = get(t, base+"/apis/v1/users/bulk-import/logs?communityId=comm1&limit=1", creds)
	if m := r.object(t); len(m["logs"].([]any)) != 1 {
		t.Fatalf("limit=1: %s", r.raw)
	}
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs?communityId=comm1&limit=0", creds), 400, `{"message":"limit: want a number from 1 to 500"}`)
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs", creds), 400, `{"message":"communityId is required"}`)

	// Without a lister the log is not available.
	base2, creds2 := communityServer(t, imp, nil)
	expect(t, get(t, base2+"/apis/v1/users/bulk-import/logs?communityId=comm1", creds2), 501, `{"message":"the import log is not available on this server"}`)

	// A failing lister is a 500 that says nothing of the cause.
	base3, creds3 := communityServer(t, imp, func(context.Context, string, int) ([]client.Summary, error) {
		return nil, errors.New("mongodb://10.0.0.5 timeout")
	})
	expect(t, get(t, base3+"/apis/v1/users/bulk-import/logs?communityId=comm1", creds3), 500, `{"message":"the import log could not be read; try again"}`)
}

func TestCommunityLogDetail(t *testing.T) {
	imp := &fakeImporter{
		view: client.Summary{Status: "completed", Schema: "community_users", Mode: "update", Source: "u.csv", Total: 3, Processed: 3, Counts: envelope.Counts{Updated: 1, Skipped: 1, Failed: 1}},
		notes: []envelope.Outcome{
			outcome(2, envelope.Failed, "validation|email|email: 'x@' is not a valid email address"),
			outcome(3, envelope.Skipped, "not_found||no existing record with email zed@example.com (update mode does not create records)"),
		},
	}
	base, creds := communityServer(t, imp, nil)
	expect(t, post(t, base+"/apis/v1/users/bulk-update", creds, file("data", "u.csv", communityCSV), field("communityId", "comm1")), 200, `{}`)
	r := get(t, base+"/apis/v1/users/bulk-import/logs/imp_fake1?communityId=comm1", creds)
	expect(t, r, 200, `{"id":"imp_fake1","type":"bulk-update","status":"completed","file":"u.csv","total":3,"processed":3,"created":0,"updated":1,"skipped":1,"failed":1,
		"errors":[{"row":2,"field":"email","message":"email: 'x@' is not a valid email address"}],
		"skipped_rows":[{"row":3,"message":"no existing record with email zed@example.com (update mode does not create records)"}]}`)
	// Unknown, malformed, or of another community: 404.
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs/imp_nope?communityId=comm1", creds), 404, `{"message":"import not found"}`)
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs/imp.%3E?communityId=comm1", creds), 404, `{"message":"import not found"}`)
	other := bearer(jwt(t, "comm2", "bob", auth.CapImportsRead))
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs/imp_fake1?communityId=comm2", other), 404, `{"message":"import not found"}`)
	// Another schema's import of the same tenant is not in the user log.
	imp.view.Schema = "contacts"
	expect(t, get(t, base+"/apis/v1/users/bulk-import/logs/imp_fake1?communityId=comm1", creds), 404, `{"message":"import not found"}`)
}
