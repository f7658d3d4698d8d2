package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/intake/intake/pkg/testenv"
)

// StartCluster runs n nats-servers (see Start) with opts applied to each:
// one server when n is 1, else a cluster of n on loopback routes. It
// returns their client URLs, comma-separated, once JetStream can answer:
// the cluster has elected its meta leader and every server has caught up.
func StartCluster(tb testing.TB, n int, opts server.Options) string {
	tb.Helper()
	routes := make([]string, n)
	clusterPorts := make([]int, n)
	for i := range n {
		clusterPorts[i] = freePort(tb)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i])
	}
	servers := make([]*server.Server, n)
	urls := make([]string, n)
	for i := range n {
		o := opts
		o.ServerName = fmt.Sprintf("n%d", i+1)
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "intake", Host: "127.0.0.1", Port: clusterPorts[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		servers[i] = Start(tb, &o)
		urls[i] = servers[i].ClientURL()
	}
	testenv.CheckFor(tb, time.Minute, 100*time.Millisecond, func() error { return jetStreamReady(servers) })
	return strings.Join(urls, ",")
}

// jetStreamReady says why JetStream cannot answer yet, unless one of servers
// leads its meta group and all are current with it (a single server always
// is).
func jetStreamReady(servers []*server.Server) error {
	leader := len(servers) == 1
	for _, s := range servers {
		if !s.JetStreamIsCurrent() {
			return fmt.Errorf("JetStream of %s is not current", s.Name())
		}
		leader = leader || s.JetStreamIsLeader()
	}
	if !leader {
		return fmt.Errorf("no JetStream meta leader among %d servers", len(servers))
	}
	return nil
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
