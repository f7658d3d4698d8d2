package app

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
)

// wantEach checks f on each input of cases against its wanted output.
func wantEach(t *testing.T, name string, f func(string) string, cases map[string]string) {
	t.Helper()
	for in, want := range cases {
		if got := f(in); got != want {
			t.Errorf("%s(%q) = %q, want %q", name, in, got, want)
		}
	}
}

func TestMongoshURI(t *testing.T) {
	wantEach(t, "mongoshURI", func(uri string) string { return mongoshURI(uri, "intake") }, map[string]string{
		"mongodb://%2Fd%2Fmongodb.sock/":         "mongodb://%2Fd%2Fmongodb.sock/intake",
		"mongodb://127.0.0.1:27017":              "mongodb://127.0.0.1:27017/intake",
		"mongodb://a:1,b:2/?replicaSet=rs0":      "mongodb://a:1,b:2/intake?replicaSet=rs0",
		"mongodb://h/other?tls=true":             "mongodb://h/other?tls=true",
		"mongodb+srv://u:xxxxx@cluster.example/": "mongodb+srv://u:xxxxx@cluster.example/intake",
	})
}

func TestHTTPURL(t *testing.T) {
	wantEach(t, "httpURL", httpURL, map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/",
		"[::]:9000":      "http://127.0.0.1:9000/",
		":9000":          "http://127.0.0.1:9000/",
		"[::1]:9000":     "http://[::1]:9000/",
	})
}

// TestBannerExternal: with external servers the banner names them without
// their passwords, and a health-only target offers no import to try.
func TestBannerExternal(t *testing.T) {
	var b bytes.Buffer
	Banner(&b, Info{HTTPAddr: "0.0.0.0:8081", NATSURL: "nats://intake:s3cret@nats:4222", MongoURI: "mongodb://app:s3cret@mongo:27017/",
		MongoDB: "intake", Auth: AuthNone})
	out := b.String()
	for _, want := range []string{"http://127.0.0.1:8081/healthz", "nats://intake:xxxxx@nats:4222", `mongosh "mongodb://app:xxxxx@mongo:27017/intake"`} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "intake import") || strings.Contains(out, "Data directory") {
		t.Errorf("banner shows a password, an import or a data directory it has not:\n%s", out)
	}
}

func TestHasOperatorKey(t *testing.T) {
	now := time.Now()
	tenantAdmin := auth.Key{Tenant: "acme", Capabilities: []string{auth.CapAdmin}}
	operator := auth.Key{Tenant: "default", Capabilities: []string{auth.CapOperator}}
	revoked := operator
	revoked.RevokedAt = &now
	for _, c := range []struct {
		keys []auth.Key
		want bool
	}{
		{nil, false},
		{[]auth.Key{tenantAdmin}, false},
		{[]auth.Key{tenantAdmin, revoked}, false},
		{[]auth.Key{tenantAdmin, operator}, true},
	} {
		if got := hasOperatorKey(c.keys); got != c.want {
			t.Errorf("hasOperatorKey(%+v) = %v, want %v", c.keys, got, c.want)
		}
	}
}
