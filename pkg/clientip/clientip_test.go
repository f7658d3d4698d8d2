package clientip

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResolve(t *testing.T) {
	trusted, err := ParseCIDRs(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		fwd        []string
		want       string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"spoofed header from an untrusted peer", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"one trusted proxy", "10.1.2.3:5555", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client forged a left entry", "10.1.2.3:5555", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:5555", []string{"198.51.100.1, 192.168.1.7"}, "198.51.100.1"},
		{"several header lines", "10.1.2.3:5555", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"proxy without the header", "10.1.2.3:5555", nil, "10.1.2.3"},
		{"all hops trusted", "10.1.2.3:5555", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage right-most entry", "10.1.2.3:5555", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"garbage left of the client", "10.1.2.3:5555", []string{"not-an-ip, 198.51.100.1"}, "198.51.100.1"},
		{"entry with a port", "10.1.2.3:5555", []string{"198.51.100.1:777"}, "198.51.100.1"},
		{"IPv6", "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:1", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		if got := Resolve(tc.peer, tc.fwd, trusted); got != tc.want {
			t.Errorf("%s: Resolve(%s, %q) = %s, want %s", tc.name, tc.peer, tc.fwd, got, tc.want)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	if p, err := ParseCIDRs(""); err != nil || len(p) != 0 {
		t.Errorf(`ParseCIDRs("") = %v, %v`, p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8;1.2.3.4"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
}

func TestMiddleware(t *testing.T) {
	var seen string
	h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })
	trusted, _ := ParseCIDRs("10.0.0.0/8")
	for _, tc := range []struct {
		trusted    bool
		peer, want string
	}{
		{true, "10.0.0.9:1234", "198.51.100.1"},
		{true, "203.0.113.5:1234", "203.0.113.5"},
		{false, "10.0.0.9:1234", "10.0.0.9:1234"}, // no trusted proxy: untouched
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.peer
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		mw := Middleware(nil)
		if tc.trusted {
			mw = Middleware(trusted)
		}
		mw(h).ServeHTTP(httptest.NewRecorder(), r)
		if seen != tc.want {
			t.Errorf("trusted=%v peer %s: RemoteAddr %s, want %s", tc.trusted, tc.peer, seen, tc.want)
		}
	}
}
