package browser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/intake/app/apptest"
)

// adminKey is the bootstrap key (tenant default) of the systems started here.
const adminKey = "ik_browsertest_bootstrap_key_0123456789abcdef"

// system is a whole Intake started in-process on the embedded default
// (apptest), with the calls of these tests.
type system struct {
	t    testing.TB
	base string
	sys  *apptest.System
}

// startSystem runs the whole system with an admin key and waits until it
// serves; it stops, and is checked to stop cleanly, when the test ends.
func startSystem(t testing.TB, tweak func(*app.Config)) *system {
	t.Helper()
	sys := apptest.Start(t, apptest.WithConfig(func(cfg *app.Config) {
		cfg.EmbeddedNATSAddr = "127.0.0.1:0"
		cfg.BootstrapAPIKey = adminKey
		cfg.ShutdownTimeout = 20 * time.Second
		if tweak != nil {
			tweak(cfg)
		}
	}))
	return &system{t: t, base: sys.Base, sys: sys}
}

// request sends a request with the API key (none if key is empty).
func (s *system) request(method, path, key string, body io.Reader, ctype string) *http.Response {
	s.t.Helper()
	var headers map[string]string
	if key != "" {
		headers = map[string]string{"X-API-Key": key}
	}
	return s.sys.Request(s.t, method, path, headers, body, ctype)
}

// call sends a request and decodes its JSON answer into out (if not nil).
func (s *system) call(method, path, key string, body io.Reader, ctype string, out any) int {
	s.t.Helper()
	resp := s.request(method, path, key, body, ctype)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s answered %d with %q: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// upload posts a CSV to /v1/imports (fields first) and returns the import ID.
func (s *system) upload(csv []byte, fields map[string]string) string {
	s.t.Helper()
	body, ctype := testenv.UploadForm("contacts.csv", csv, fields)
	var out struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	if status := s.call("POST", "/v1/imports", adminKey, body, ctype, &out); status != http.StatusAccepted {
		s.t.Fatalf("upload: %d %s", status, out.Error)
	}
	return out.ID
}

// summary reads GET /v1/imports/{id}.
func (s *system) summary(id string) ingest.ImportView {
	s.t.Helper()
	var v ingest.ImportView
	if status := s.call("GET", "/v1/imports/"+id, adminKey, nil, "", &v); status != http.StatusOK {
		s.t.Fatalf("summary of %s: %d", id, status)
	}
	return v
}

// createKey makes a key for tenant with the given capabilities.
func (s *system) createKey(tenant string, caps ...string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": tenant + "-key", "tenant": tenant, "capabilities": caps})
	var out struct {
		Key string `json:"key"`
	}
	if status := s.call("POST", "/v1/keys", adminKey, bytes.NewReader(body), "application/json", &out); status != http.StatusCreated {
		s.t.Fatalf("create key: %d", status)
	}
	return out.Key
}

// contactsCSV makes n contact rows: every 40th has an invalid email (fails)
// and every 25th repeats the previous row's email (skipped as a duplicate).
func contactsCSV(n int) []byte {
	var b strings.Builder
	b.WriteString("Name,E-mail,Company\n")
	for i := 1; i <= n; i++ {
		email := fmt.Sprintf("person%d@example.com", i)
		switch {
		case i%40 == 0:
			email = fmt.Sprintf("person%d@", i)
		case i%25 == 0:
			email = fmt.Sprintf("person%d@example.com", i-1)
		}
		fmt.Fprintf(&b, "Person %d,%s,Acme %d\n", i, email, i%7)
	}
	return []byte(b.String())
}

// sameCounts reports how a differs from b in status and counts.
func sameCounts(a, b ingest.ImportView) error {
	type counts struct {
		Status                                              string
		Total, Processed, Created, Updated, Skipped, Failed int
	}
	ca := counts{a.Status, a.Total, a.Processed, a.Created, a.Updated, a.Skipped, a.Failed}
	cb := counts{b.Status, b.Total, b.Processed, b.Created, b.Updated, b.Skipped, b.Failed}
	if ca != cb {
		return fmt.Errorf("%+v != %+v", ca, cb)
	}
	return nil
}
