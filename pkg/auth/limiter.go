package auth

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// limiter counts failed authentications per client and blocks a client that
// fails more than allowed times in one window. Memory is bounded: entries expire
// once neither their window nor their block matters any more, and beyond
// capacity the least recently failing client is forgotten. (An attacker with
// more addresses than the capacity can make the limiter forget blocks; the
// capacity only bounds memory, not the number of guesses a botnet can make.)
type limiter struct {
	allowed  int // failures per window
	window   time.Duration
	block    time.Duration
	keep     time.Duration // an entry untouched this long is dead
	capacity int

	mu      sync.Mutex
	entries map[string]*list.Element // of *failures
	order   *list.List               // front: most recent failure
}

type failures struct {
	client       string
	windowStart  time.Time
	last         time.Time
	count        int
	blockedUntil time.Time
}

func newLimiter(allowed int, window, block time.Duration, capacity int) *limiter {
	return &limiter{
		allowed: allowed, window: window, block: block, keep: max(window, block), capacity: capacity,
		entries: map[string]*list.Element{}, order: list.New(),
	}
}

// blocked returns how much longer client is blocked (0: not blocked).
func (l *limiter) blocked(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	el, ok := l.entries[client]
	if !ok {
		return 0
	}
	if d := el.Value.(*failures).blockedUntil.Sub(now); d > 0 {
		return d
	}
	return 0
}

// fail records a failure of client and returns how long the client is now
// blocked for (0: not blocked, this failure was within the allowance).
func (l *limiter) fail(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	var f *failures
	if el, ok := l.entries[client]; ok {
		f = el.Value.(*failures)
		l.order.MoveToFront(el)
	} else {
		for l.order.Len() >= l.capacity {
			l.remove(l.order.Back())
		}
		f = &failures{client: client, windowStart: now}
		l.entries[client] = l.order.PushFront(f)
	}
	if now.Sub(f.windowStart) >= l.window {
		f.windowStart, f.count = now, 0
	}
	f.last = now
	f.count++
	if f.count <= l.allowed {
		return 0
	}
	// Blocked: the count starts afresh once the block is over.
	f.blockedUntil = now.Add(l.block)
	f.windowStart, f.count = f.blockedUntil, 0
	return l.block
}

// sweep drops dead entries from the back, where the oldest are; each entry
// is dropped once, so the cost is constant per failure on average.
func (l *limiter) sweep(now time.Time) {
	for el := l.order.Back(); el != nil; el = l.order.Back() {
		if now.Sub(el.Value.(*failures).last) < l.keep {
			return
		}
		l.remove(el)
	}
}

func (l *limiter) remove(el *list.Element) {
	delete(l.entries, el.Value.(*failures).client)
	l.order.Remove(el)
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// clientOf returns the key a request is rate-limited by: the address of the
// peer (r.RemoteAddr, with or without a port; behind a trusted proxy,
// pkg/clientip's middleware has set it to the forwarded client). IPv6 addresses count per /64, since one host
// usually holds a whole /64 and could otherwise rotate through it.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.WithZone("").Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}
