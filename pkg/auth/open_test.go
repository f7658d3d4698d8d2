package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOpenRefusesEveryCredential: an open server acts as its principal for
// requests without credentials and refuses every credential, "bogus" or
// well-formed, since it has nothing to check one against.
func TestOpenRefusesEveryCredential(t *testing.T) {
	want := Principal{Tenant: "default", Subject: "anonymous", Capabilities: []string{CapAdmin}, Method: MethodOpen}
	var got Principal
	h := Open(want, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/imports", nil))
	if rec.Code != http.StatusNoContent || got.Tenant != "default" || got.Method != MethodOpen {
		t.Fatalf("no credentials: %d, principal %+v", rec.Code, got)
	}

	generated, _ := NewAPIKey()
	for name, hdr := range map[string][2]string{
		"bogus key":       {"X-API-Key", "bogus"},
		"well-formed key": {"X-API-Key", generated},
		"bearer key":      {"Authorization", "Bearer " + generated},
		"bearer token":    {"Authorization", "Bearer a.b.c"},
	} {
		req := httptest.NewRequest("GET", "/v1/imports", nil)
		req.Header.Set(hdr[0], hdr[1])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, rec.Code)
		}
		if body := rec.Body.String(); !strings.Contains(body, "INTAKE_BOOTSTRAP_API_KEY") {
			t.Errorf("%s: body %s does not say how to set an admin key", name, body)
		}
	}
	if !errors.Is(ErrOpenServer, ErrInvalidCredentials) || StatusOf(ErrOpenServer) != http.StatusUnauthorized {
		t.Fatal("ErrOpenServer must be a 401 invalid-credentials error")
	}
}
