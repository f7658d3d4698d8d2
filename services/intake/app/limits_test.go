package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/intake/app"
)

// Per-tenant limits from a limits file: rows per import (422), upload size
// (413) and imports processing at once (429 with Retry-After).
func TestTenantLimits(t *testing.T) {
	file := testenv.WriteFile(t, "limits.json", []byte(`{"default": {"max_concurrent_imports": 5},
		"tenants": {"default": {"max_rows": 3, "max_upload_bytes": 4000, "max_concurrent_imports": 1}}}`))
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.TenantLimitsFile = file })

	if status, out := s.upload([]byte("email\na@x.io\nb@x.io\nc@x.io\nd@x.io\n"), nil); status != 422 || !strings.Contains(out["error"].(string), "more than 3 rows") {
		t.Fatalf("over the tenant's row limit: %d %v", status, out)
	} else {
		// It ends failed; until then it counts against the tenant's one
		// import at once, which is checked before a body is read.
		id, _ := out["import_id"].(string)
		testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if v := s.summary(id, ""); v.Status == "processing" || v.Status == "" {
				return errorString("still processing")
			}
			return nil
		})
	}
	if status, out := s.upload([]byte("email\n"+strings.Repeat("x", 5000)+"@x.io\n"), nil); status != 413 {
		t.Fatalf("over the tenant's upload limit: %d %v", status, out)
	}

	// An import opened by an upstream publisher and not sealed keeps processing.
	nc := s.upstreamConn("default")
	msg, err := nc.Request("intake.api.v1.default.open", []byte(`{"tenant": "default", "schema": "contacts", "mode": "upsert"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var opened struct{ ID string }
	if err := json.Unmarshal(msg.Data, &opened); err != nil || opened.ID == "" {
		t.Fatalf("open: %s", msg.Data)
	}
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		// Saved by the reporter, not only announced (the limit counts saved summaries).
		if v := s.summary(opened.ID, ""); v.Status != "processing" || v.CreatedAt == nil {
			return errorString("not yet saved: " + v.Status)
		}
		return nil
	})
	body, ctype := testenv.UploadForm("f.csv", []byte("email\na@x.io\n"), nil)
	resp := s.request(http.MethodPost, "/v1/imports", nil, body, ctype)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(out["error"].(string), "at once") {
		t.Fatalf("a second import while one processes: %d Retry-After=%q %v", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}

	// The limit is checked before the body is read: an upload whose body
	// never arrives is answered 429 all the same (were the body read, the
	// request would hang until the client's timeout).
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/imports", pr)
	req.Header.Set("Content-Type", ctype)
	client := &http.Client{Timeout: 30 * time.Second}
	resp2, err := client.Do(req)
	if err != nil {
		t.Fatalf("an upload over the limit with a body that never comes: %v", err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 429 {
		t.Fatalf("an upload over the limit with a body that never comes: %d", resp2.StatusCode)
	}
}

// Ready means every API answers: the upstream protocol's requests, not only
// HTTP (a request sent right after Ready once got "no responders").
func TestReadyMeansUpstreamAnswers(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	msg, err := s.upstreamConn("default").Request("intake.api.v1.default.summary", []byte(`{"id": "not-an-id"}`), 10*time.Second)
	if err != nil {
		t.Fatalf("a request right after Ready: %v", err)
	}
	if !strings.Contains(string(msg.Data), "id") {
		t.Fatalf("answer: %s", msg.Data)
	}
}
