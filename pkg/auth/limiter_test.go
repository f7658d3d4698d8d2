package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	type step struct {
		ip      string
		cred    string // "good", "bad", "none"
		n       int    // times
		advance time.Duration
		status  int    // of the last request
		retry   string // Retry-After of the last request
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"21st failure is blocked, then everything until the block ends", Config{}, []step{
			{ip: "10.0.0.1", cred: "bad", n: 20, status: 401},
			{ip: "10.0.0.1", cred: "bad", n: 1, status: 429, retry: "60"},
			{ip: "10.0.0.1", cred: "good", n: 1, status: 429, retry: "60"},
			{ip: "10.0.0.1", cred: "none", n: 1, advance: 30 * time.Second, status: 429, retry: "30"},
			{ip: "10.0.0.1", cred: "good", n: 1, advance: 30 * time.Second, status: 200},
			{ip: "10.0.0.1", cred: "bad", n: 20, status: 401}, // a fresh allowance
			{ip: "10.0.0.1", cred: "bad", n: 1, status: 429, retry: "60"},
		}},
		{"successes do not count and do not reset", Config{}, []step{
			{ip: "10.0.0.2", cred: "bad", n: 19, status: 401},
			{ip: "10.0.0.2", cred: "good", n: 30, status: 200},
			{ip: "10.0.0.2", cred: "bad", n: 1, status: 401},
			{ip: "10.0.0.2", cred: "good", n: 1, status: 200},
			{ip: "10.0.0.2", cred: "bad", n: 1, status: 429, retry: "60"},
		}},
		{"requests without credentials do not count", Config{}, []step{
			{ip: "10.0.0.3", cred: "none", n: 30, status: 401},
			{ip: "10.0.0.3", cred: "good", n: 1, status: 200},
		}},
		{"addresses are independent", Config{}, []step{
			{ip: "10.0.0.4", cred: "bad", n: 21, status: 429, retry: "60"},
			{ip: "10.0.0.5", cred: "bad", n: 20, status: 401},
			{ip: "10.0.0.5", cred: "good", n: 1, status: 200},
			{ip: "10.0.0.4", cred: "good", n: 1, status: 429},
		}},
		{"ipv6 counts per /64", Config{}, []step{
			{ip: "2001:db8:1:2::1", cred: "bad", n: 10, status: 401},
			{ip: "2001:db8:1:2::ffff", cred: "bad", n: 11, status: 429},
			{ip: "2001:db8:1:3::1", cred: "good", n: 1, status: 200},
		}},
		{"the window passes", Config{}, []step{
			{ip: "10.0.0.6", cred: "bad", n: 20, status: 401},
			{ip: "10.0.0.6", cred: "bad", n: 20, advance: 61 * time.Second, status: 401},
			{ip: "10.0.0.6", cred: "bad", n: 1, status: 429},
		}},
		{"configured limit and block", Config{FailuresPerMinute: 3, BlockFor: 10 * time.Minute}, []step{
			{ip: "10.0.0.7", cred: "bad", n: 3, status: 401},
			{ip: "10.0.0.7", cred: "bad", n: 1, status: 429, retry: "600"},
			{ip: "10.0.0.7", cred: "good", n: 1, advance: 9 * time.Minute, status: 429, retry: "60"},
			{ip: "10.0.0.7", cred: "good", n: 1, advance: time.Minute, status: 200},
		}},
		{"limit off", Config{FailuresPerMinute: -1}, []step{
			{ip: "10.0.0.8", cred: "bad", n: 50, status: 401},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			keys := &fakeKeys{}
			good := keys.add(t, "acme", []string{CapImportsRead}, false)
			bad, _ := NewAPIKey()
			cfg := tc.cfg
			cfg.Now = clk.Now
			a, err := New(cfg, keys)
			if err != nil {
				t.Fatal(err)
			}
			srv := testServer(t, a)
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				var r result
				for range s.n {
					h := map[string]string{"X-Test-IP": s.ip}
					switch s.cred {
					case "good":
						h["X-API-Key"] = good
					case "bad":
						h["X-API-Key"] = bad
					}
					r = do(t, srv, "/read", h)
				}
				if r.status != s.status || (s.retry != "" && r.retryAfter != s.retry) {
					t.Fatalf("step %d (%s x%d from %s): %d Retry-After %q (%s), want %d Retry-After %q",
						i, s.cred, s.n, s.ip, r.status, r.retryAfter, r.body, s.status, s.retry)
				}
				if r.status == 429 && r.retryAfter == "" {
					t.Fatalf("step %d: 429 without Retry-After", i)
				}
			}
		})
	}
}

// TestRateLimitCustomErrorBody: the onError hook renders 429 too, with the
// Retry-After header already set.
func TestRateLimitCustomErrorBody(t *testing.T) {
	clk := newClock()
	a, err := New(Config{FailuresPerMinute: 1, Now: clk.Now}, &fakeKeys{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	h := a.Middleware(func(w http.ResponseWriter, r *http.Request, status int, err error) {
		seen = append(seen, status)
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<error>%d</error>", status)
	})(http.NotFoundHandler())
	bad, _ := NewAPIKey()
	var last *httptest.ResponseRecorder
	for range 2 {
		last = httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-API-Key", bad)
		h.ServeHTTP(last, req)
	}
	if fmt.Sprint(seen) != "[401 429]" || last.Header().Get("Retry-After") != "60" || last.Body.String() != "<error>429</error>" {
		t.Fatalf("statuses %v, Retry-After %q, body %q", seen, last.Header().Get("Retry-After"), last.Body.String())
	}
}

func TestLimiterEvicts(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("beyond capacity the least recent goes", func(t *testing.T) {
		l := newLimiter(2, time.Minute, time.Minute, 3)
		for i := range 3 {
			l.fail(fmt.Sprint("ip", i), start)
		}
		l.fail("ip0", start) // ip0 is now the most recent; ip1 the least
		l.fail("ip3", start)
		if l.size() != 3 {
			t.Fatalf("size %d, want 3", l.size())
		}
		if _, ok := l.entries["ip1"]; ok {
			t.Fatal("ip1 kept, want it evicted")
		}
		if _, ok := l.entries["ip0"]; !ok {
			t.Fatal("ip0 evicted, want it kept")
		}
	})
	t.Run("old entries expire", func(t *testing.T) {
		l := newLimiter(2, time.Minute, 5*time.Minute, 100)
		for i := range 50 {
			l.fail(fmt.Sprint("ip", i), start)
		}
		for range 3 {
			l.fail("blocked", start)
		}
		if d := l.blocked("blocked", start.Add(4*time.Minute)); d != time.Minute {
			t.Fatalf("blocked for %s, want 1m", d)
		}
		if l.size() != 51 {
			t.Fatalf("size %d, want 51", l.size())
		}
		// Past the window and the block nothing needs remembering.
		if d := l.blocked("other", start.Add(5*time.Minute)); d != 0 {
			t.Fatalf("other blocked %s", d)
		}
		if l.size() != 0 {
			t.Fatalf("size %d after expiry, want 0", l.size())
		}
	})
	t.Run("through the middleware", func(t *testing.T) {
		clk := newClock()
		a, err := New(Config{MaxTrackedClients: 10, Now: clk.Now}, &fakeKeys{})
		if err != nil {
			t.Fatal(err)
		}
		srv := testServer(t, a)
		bad, _ := NewAPIKey()
		for i := range 25 {
			do(t, srv, "/read", map[string]string{"X-Test-IP": fmt.Sprintf("192.0.2.%d", i), "X-API-Key": bad})
		}
		if n := a.limiter.size(); n != 10 {
			t.Fatalf("tracking %d clients, want 10", n)
		}
		clk.Advance(2 * time.Minute)
		do(t, srv, "/read", map[string]string{"X-Test-IP": "192.0.2.200", "X-API-Key": bad})
		if n := a.limiter.size(); n != 1 {
			t.Fatalf("tracking %d clients after two minutes, want 1", n)
		}
	})
}

func TestClientOf(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:5555", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:5555", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:5555", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:5555", "fe80::/64"},
		{"192.0.2.9", "192.0.2.9"},
		{"not-an-address", "not-an-address"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		if got := clientOf(r); got != tc.want {
			t.Errorf("clientOf(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

// OnBlock hears of each block once, not of every refused request.
func TestOnBlock(t *testing.T) {
	keys := &fakeKeys{}
	var blocked []string
	a, err := New(Config{Now: newClock().Now, OnBlock: func(client string, d time.Duration) {
		blocked = append(blocked, fmt.Sprintf("%s %s", client, d))
	}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, a)
	bad, _ := NewAPIKey()
	for range 25 {
		do(t, srv, "/read", map[string]string{"X-API-Key": bad, "X-Test-IP": "198.51.100.9"})
	}
	if len(blocked) != 1 || blocked[0] != "198.51.100.9 1m0s" {
		t.Errorf("OnBlock calls %q, want one for 198.51.100.9 1m0s", blocked)
	}
}
