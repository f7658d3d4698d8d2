package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/tools/internal/procs"
)

// stages are the services a system runs, each in its own processes:
// `intake serve --target=<stage>`.
var stages = []string{"ingest", "validator", "deduplicator", "writer", "reporter"}

// adminKey is ingest's --bootstrap-api-key: the operator key that creates
// the tenants' keys.
const adminKey = "ik_scale_bootstrap_admin_key_0123456789abcdefghijk"

// system is Intake as separate processes on loopback: a nats-server, a
// FerretDB (`intake ferretdb`) that the services reach only through a
// proxy delaying each direction, and n processes of every stage.
type system struct {
	nats, db *procs.Process
	proxy    *toxiproxy.Proxy
	byStage  map[string][]*procs.Process // instance i of a stage at [i]
	ingests  []string                    // the ingest processes' API base URLs
	natsMon  string                      // nats-server's HTTP monitoring address
}

// startSystem starts a system of n instances of every stage in dir.
func startSystem(ctx context.Context, bins procs.Binaries, dir string, n int, delay time.Duration) (_ *system, err error) {
	s := &system{byStage: map[string][]*procs.Process{}, ingests: make([]string, n)}
	for _, stage := range stages {
		s.byStage[stage] = make([]*procs.Process, n)
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	addrs, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	natsAddr, dbAddr := addrs[0], addrs[1]
	s.natsMon = addrs[2]
	host, port, _ := net.SplitHostPort(natsAddr)
	_, monPort, _ := net.SplitHostPort(s.natsMon)
	if s.nats, err = procs.Start(dir, "nats-server", bins.NATS, "-js", "-sd", filepath.Join(dir, "nats"), "-a", host, "-p", port, "-m", monPort); err != nil {
		return nil, err
	}
	if s.db, err = procs.Start(dir, "ferretdb", bins.Intake, "ferretdb", "--data-dir", filepath.Join(dir, "db"), "--listen", dbAddr); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		p    *procs.Process
		addr string
	}{{s.nats, natsAddr}, {s.db, dbAddr}} {
		if err := waitListening(ctx, l.p, l.addr); err != nil {
			return nil, err
		}
	}
	if s.proxy, err = startDelayProxy(dbAddr, delay); err != nil {
		return nil, err
	}
	// The first ingest creates the streams and the admin key; the other
	// processes then start at once.
	if err := s.startService(ctx, bins, dir, "ingest", 0, n, natsAddr); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, stage := range stages {
		for i := range n {
			if stage != "ingest" || i > 0 {
				g.Go(func() error { return s.startService(gctx, bins, dir, stage, i, n, natsAddr) })
			}
		}
	}
	return s, g.Wait()
}

// startService starts instance i of n of stage and waits until it is ready.
func (s *system) startService(ctx context.Context, bins procs.Binaries, dir, stage string, i, n int, natsAddr string) error {
	httpAddr, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	args := []string{"serve", "--target=" + stage, "--http-addr", httpAddr, "--nats-url", "nats://" + natsAddr,
		"--mongo-uri", "mongodb://" + s.proxy.Listen + "/", "--instance-index", strconv.Itoa(i), "--instance-count", strconv.Itoa(n),
		"--log-level", "warn"}
	if stage == "ingest" {
		args = append(args, "--bootstrap-api-key", adminKey)
	}
	p, err := procs.Start(dir, fmt.Sprintf("%s-%d", stage, i), bins.Intake, args...)
	if err != nil {
		return err
	}
	s.byStage[stage][i] = p
	base := "http://" + httpAddr
	if stage == "ingest" {
		s.ingests[i] = base
	}
	return procs.Poll(ctx, p.Name+" ready", time.Minute, 100*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("%s exited (log %s): %w", p.Name, p.Log, procs.ErrHopeless)
		}
		return client.NewREST(base).Ready(ctx)
	})
}

// waitListening waits until p accepts connections on addr.
func waitListening(ctx context.Context, p *procs.Process, addr string) error {
	return procs.Poll(ctx, p.Name+" listening on "+addr, time.Minute, 50*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("%s exited (log %s): %w", p.Name, p.Log, procs.ErrHopeless)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// startDelayProxy starts a TCP proxy in this process in front of upstream
// that delays the data of each direction by delay (toxiproxy's latency
// toxic, whole milliseconds): what a database over a network looks like.
func startDelayProxy(upstream string, delay time.Duration) (*toxiproxy.Proxy, error) {
	listen, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "database", listen, upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("proxy in front of %s: %w", upstream, err)
	}
	for _, direction := range []string{"upstream", "downstream"} {
		toxic := fmt.Sprintf(`{"type": "latency", "stream": %q, "attributes": {"latency": %d}}`, direction, delay.Milliseconds())
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			p.Stop()
			return nil, fmt.Errorf("latency toxic %s: %w", direction, err)
		}
	}
	return p, nil
}

// freeAddrs is n distinct free loopback addresses.
func freeAddrs(n int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		a, err := procs.FreeAddr()
		if err != nil {
			return nil, err
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// services is every process of the system but the broker and the database.
func (s *system) services() []*procs.Process {
	var out []*procs.Process
	for _, stage := range stages {
		for _, p := range s.byStage[stage] {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// alive fails if a process has exited on its own.
func (s *system) alive() error {
	for _, p := range append(s.services(), s.nats, s.db) {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited by itself (log %s)", p.Name, p.Log)
		}
	}
	return nil
}

// stop stops the services, the proxy, the database and the broker.
func (s *system) stop() {
	var g errgroup.Group
	for _, p := range s.services() {
		g.Go(func() error { p.Stop(); return nil })
	}
	_ = g.Wait()
	if s.proxy != nil {
		s.proxy.Stop()
	}
	for _, p := range []*procs.Process{s.db, s.nats} {
		if p != nil {
			p.Stop()
		}
	}
}
