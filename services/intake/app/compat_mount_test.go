package app_test

import (
	"testing"

	"github.com/intake/intake/pkg/testenv"
)

// The compatibility endpoints are served by `intake serve` itself.
func TestCompatibilityEndpointsMounted(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	body, ctype := testenv.UploadForm("customers.csv", []byte("name,email\nAnn,ann@x.io\nBob,bob@\n"), nil)
	status, out := s.call("POST", "/customers/import", nil, body, ctype)
	if status != 200 || out["total"] != 2.0 || out["created"] != 1.0 || len(out["errors"].([]any)) != 1 {
		t.Fatalf("POST /customers/import: %d %v", status, out)
	}
	// Open mode (no credential configured): the request is authenticated as
	// tenant default, and a request without a file is the contract's 400.
	if status, out := s.call("POST", "/phonebook/import/", nil, nil, ""); status != 400 || out["message"] == nil {
		t.Fatalf("phonebook without a file: %d %v", status, out)
	}
}
