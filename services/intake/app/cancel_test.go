package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/testenv"
)

// Cancelling an import: rows written stay, the rest fail, every row is
// counted once, the import ends cancelled, and replace deletes nothing.
// Another tenant cannot cancel it.
func TestCancelImport(t *testing.T) {
	s := startWithAdmin(t)
	acme := s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead)
	globex := s.createKey("globex", auth.CapImportsWrite, auth.CapImportsRead)
	if status, out := s.uploadAs(key(acme), "name,email\nKeep,keep@x.io\n"); status != 202 {
		t.Fatalf("upload: %d %v", status, out)
	} else {
		s.call("GET", "/v1/imports/"+out["id"].(string)+"?wait=10s", key(acme), nil, "")
	}

	f := makeContacts(20000, "")
	var body strings.Builder
	body.Write(f.csv)
	status, out := s.uploadAs(key(acme), body.String())
	if status != 202 {
		t.Fatalf("upload: %d %v", status, out)
	}
	id := out["id"].(string)
	if status, _ := s.call("POST", "/v1/imports/"+id+"/cancel", key(globex), nil, ""); status != 404 {
		t.Fatalf("another tenant cancelled: %d", status)
	}
	if status, out := s.call("POST", "/v1/imports/"+id+"/cancel", key(acme), nil, ""); status != 202 && status != 409 {
		t.Fatalf("cancel: %d %v", status, out)
	}
	var v map[string]any
	testenv.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		_, v = s.call("GET", "/v1/imports/"+id+"?wait=5s", key(acme), nil, "")
		if v["status"] == "processing" {
			return errorString("still processing")
		}
		return nil
	})
	t.Logf("ended %v: %v created, %v failed", v["status"], v["created"], v["failed"])
	if v["status"] != "cancelled" && v["status"] != "completed" {
		t.Fatalf("status %v", v)
	}
	created, failed, skipped, total := int(v["created"].(float64)), int(v["failed"].(float64)), int(v["skipped"].(float64)), int(v["total"].(float64))
	if total != 20000 || created+failed+skipped+int(v["updated"].(float64)) != total {
		t.Fatalf("counts do not add up: %v", v)
	}
	if n := len(s.records("acme", "contacts")); n != created+1 {
		t.Fatalf("%d records, want the %d created before the cancel plus 1", n, created)
	}
	if v["status"] == "cancelled" && failed <= len(f.failed) {
		t.Fatalf("cancelled, yet no row failed for it: %v", v)
	}
	if status, _ := s.call("POST", "/v1/imports/"+id+"/cancel", key(acme), nil, ""); status != 409 {
		t.Fatalf("cancelling a finished import: %d", status)
	}
}
