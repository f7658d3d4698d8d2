// Package clientip finds the address of the client behind a request: the
// connection's peer, or, when that peer is a trusted proxy, the address the
// proxies recorded in X-Forwarded-For. X-Forwarded-For from any other peer
// is ignored, since a client can write whatever it likes there.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseCIDRs parses a comma-separated list of CIDRs ("10.0.0.0/8,
// 192.168.1.7"); a bare address is a one-address prefix. "" is no proxy.
func ParseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Resolve returns the client's address given the connection's peer
// address (host or host:port) and the X-Forwarded-For header values, in
// order. From an untrusted peer it is the peer. From a trusted one it is
// the right-most forwarded address that is not itself a trusted proxy:
// each proxy appends the address it got the request from, so entries left
// of the first untrusted one may be forged. An entry that is not an
// address stops the walk at the last address known good.
func Resolve(peer string, forwarded []string, trusted []netip.Prefix) string {
	addr, ok := parse(peer)
	if !ok {
		return peer
	}
	if !isTrusted(addr, trusted) {
		return addr.String()
	}
	var hops []string
	for _, h := range forwarded {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parse(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		addr = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return addr.String()
}

// Middleware sets each request's RemoteAddr to the client's address (see
// Resolve), so that everything after it (the failed-login limiter, logs)
// sees the client instead of the proxy. With no trusted proxy it changes
// nothing.
func Middleware(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fwd := r.Header.Values("X-Forwarded-For")
			if len(fwd) > 0 {
				r.RemoteAddr = Resolve(r.RemoteAddr, fwd, trusted)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// parse reads an address with or without a port ("1.2.3.4", "1.2.3.4:80",
// "[2001:db8::1]:80", "2001:db8::1").
func parse(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
