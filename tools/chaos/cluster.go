package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// clusterScenarios run Intake on a three-node NATS cluster with replicated
// streams and kill nodes under it.
//
// Intake runs as one all-in-one process (`intake serve --nats-url a,b,c
// --stream-replicas 3`, embedded FerretDB): the fault under test is the
// broker's, and every service still has its own NATS connection, so each
// one sees the fail-over; separate processes would only add CPU on a
// 2-core machine and lengthen the short runs (they are in killEachService).
var clusterScenarios = []scenario{
	{"kill -9 random node of a three-node NATS cluster (R3 streams) mid-import, restart it", killClusterNode},
	{"kill -9 leader of the rows stream on a three-node NATS cluster mid-import, restart it", killRowsLeader},
}

// natsNode is one nats-server of a loopback cluster.
type natsNode struct {
	name    string // server_name
	client  string // host:port of client connections
	monitor string // host:port of HTTP monitoring
	p       *proc
}

// natsCluster is three nats-server processes forming cluster "intake" on
// loopback, each with JetStream on its own store directory and
// sync_interval: always, as in deploy/nats/nats-*.conf.
type natsCluster struct {
	nodes []*natsNode
}

func startNATSCluster(ctx context.Context, e *env, n int) (*natsCluster, error) {
	c := &natsCluster{}
	routes := make([]string, n)
	clusterAddrs := make([]string, n)
	for i := range n {
		clusterAddrs[i] = freeAddr()
		routes[i] = "nats-route://" + clusterAddrs[i]
		c.nodes = append(c.nodes, &natsNode{name: fmt.Sprintf("n%d", i+1), client: freeAddr(), monitor: freeAddr()})
	}
	for i, nd := range c.nodes {
		conf := filepath.Join(e.dir, nd.name+".conf")
		text := fmt.Sprintf(`server_name: %s
listen: %s
http: %s
max_payload: 8MB
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: intake
  listen: %s
  routes: [%s]
}
`, nd.name, nd.client, nd.monitor, filepath.Join(e.dir, nd.name), clusterAddrs[i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		p, err := e.start("nats-"+nd.name, e.natsBin, "-c", conf)
		if err != nil {
			c.stop()
			return nil, err
		}
		nd.p = p
	}
	// Ready when JetStream has a meta leader: streams can then be created.
	err := waitFor(ctx, "NATS cluster meta leader", time.Minute, func() error {
		return c.ask(ctx, func(actx context.Context, js jetstream.JetStream) error {
			_, err := js.AccountInfo(actx)
			return err
		})
	})
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// ask connects to the cluster and calls f with its JetStream and a
// context of 2 s, so that a question to a cluster without a leader ends.
func (c *natsCluster) ask(ctx context.Context, f func(context.Context, jetstream.JetStream) error) error {
	nc, js, err := streams.Connect(c.urls(), nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return f(actx, js)
}

// urls is the --nats-url of the cluster: every node.
func (c *natsCluster) urls() string {
	var u []string
	for _, nd := range c.nodes {
		u = append(u, "nats://"+nd.client)
	}
	return strings.Join(u, ",")
}

func (c *natsCluster) stop() {
	for _, nd := range c.nodes {
		if nd.p != nil {
			nd.p.stop()
		}
	}
}

func (c *natsCluster) node(name string) *natsNode {
	for _, nd := range c.nodes {
		if nd.name == name {
			return nd
		}
	}
	return nil
}

// streamLeader asks the cluster (any node) for the server_name of a
// stream's leader, waiting while it has none (an election takes 4 to 9 s).
func (c *natsCluster) streamLeader(ctx context.Context, stream string) (string, error) {
	var leader string
	err := waitFor(ctx, "a leader of "+stream, 30*time.Second, func() error {
		return c.ask(ctx, func(sctx context.Context, js jetstream.JetStream) error {
			s, err := js.Stream(sctx, stream)
			if err != nil {
				return err
			}
			info, err := s.Info(sctx)
			if err != nil {
				return err
			}
			if info.Cluster == nil || info.Cluster.Leader == "" {
				return fmt.Errorf("stream %s has no leader", stream)
			}
			leader = info.Cluster.Leader
			return nil
		})
	})
	return leader, err
}

// caughtUp waits until every node stores the same number of messages in
// stream as want: a restarted node has caught up with its replicas, and
// nothing was stored twice (retried publishes carry a Nats-Msg-Id).
func (c *natsCluster) caughtUp(ctx context.Context, stream string, want uint64) error {
	return waitFor(ctx, "every replica of "+stream+" to hold "+fmt.Sprint(want)+" messages", 2*time.Minute, func() error {
		var got []string
		ok := true
		for _, nd := range c.nodes {
			var jsz struct {
				AccountDetails []struct {
					Streams []struct {
						Name  string
						State struct {
							Msgs uint64 `json:"messages"`
						}
					} `json:"stream_detail"`
				} `json:"account_details"`
			}
			if err := getJSON("http://"+nd.monitor+"/jsz?accounts=true&streams=true", &jsz); err != nil {
				return fmt.Errorf("%s: %w", nd.name, err)
			}
			n := uint64(0)
			for _, a := range jsz.AccountDetails {
				for _, s := range a.Streams {
					if s.Name == stream {
						n = s.State.Msgs
					}
				}
			}
			got = append(got, fmt.Sprintf("%s %d", nd.name, n))
			ok = ok && n == want
		}
		if !ok {
			return fmt.Errorf("%s", strings.Join(got, ", "))
		}
		return nil
	})
}

// clusterRun is Intake on a three-node cluster, with an import for each
// tenant uploaded at once.
type clusterRun struct {
	cluster  *natsCluster
	intake   *allInOne
	jobs     []*job
	uploaded chan struct{} // closed once every upload was answered
	upErr    error         // the uploads' result, once uploaded is closed
}

func startClusterRun(ctx context.Context, e *env, rows int, prefix string) (*clusterRun, error) {
	cl, err := startNATSCluster(ctx, e, 3)
	if err != nil {
		return nil, err
	}
	a, err := startAllInOne(ctx, e, "--nats-url", cl.urls(), "--stream-replicas", "3")
	if err != nil {
		cl.stop()
		return nil, err
	}
	return &clusterRun{cluster: cl, intake: a, jobs: jobsFor(a.tenants, rows, prefix)}, nil
}

// startClusterFault starts a cluster run, uploads every import and waits
// for the moment of the fault (faultMoment), which it says; the caller
// stops the run.
func startClusterFault(ctx context.Context, e *env, rows int, prefix string, rng *rand.Rand) (*clusterRun, string, error) {
	r, err := startClusterRun(ctx, e, rows, prefix)
	if err != nil {
		return nil, "", err
	}
	r.uploadAll()
	at, err := r.faultMoment(ctx, e, rng)
	if err != nil {
		r.stop()
		return nil, "", err
	}
	return r, at, nil
}

// uploadAll uploads every import at once, in the background.
func (r *clusterRun) uploadAll() {
	r.uploaded = make(chan struct{})
	go func() {
		defer close(r.uploaded)
		r.upErr = uploadJobs(r.intake.base, r.jobs)
	}()
}

// faultMoment waits for the moment of the fault and says what it was: in
// a quarter of the runs during the uploads (if they are still running
// after a random wait of up to half a second), otherwise once the imports
// have counted a random share of their rows.
func (r *clusterRun) faultMoment(ctx context.Context, e *env, rng *rand.Rand) (string, error) {
	start := time.Now()
	if rng.IntN(4) == 0 {
		select {
		case <-time.After(time.Duration(rng.Int64N(int64(500 * time.Millisecond)))):
			return fmt.Sprintf("during the uploads (%s after they started)", time.Since(start).Round(time.Millisecond)), nil
		case <-r.uploaded:
		}
	}
	<-r.uploaded
	if r.upErr != nil {
		return "", r.upErr
	}
	return waitCounted(ctx, e, r.intake.base, r.jobs, 0, rng)
}

// finish waits for the uploads, checks every import exactly and that the
// tenants were kept apart, that the fault at killedAt came while there was
// work, that every replica of the rows stream holds exactly the imports'
// chunks, and that no process exited by itself.
func (r *clusterRun) finish(ctx context.Context, e *env, killedAt time.Time) error {
	<-r.uploaded
	if r.upErr != nil {
		return r.upErr
	}
	if err := checkJobs(ctx, r.intake.base, r.intake.mongoURI, r.jobs, 5*time.Minute); err != nil {
		return err
	}
	if _, err := e.workLeft(r.intake.base, r.jobs, killedAt); err != nil {
		return err
	}
	if err := r.cluster.caughtUp(ctx, subjects.StreamRows, uint64(chunksOf(r.jobs))); err != nil {
		return err
	}
	// Intake rode out the fail-over on its reconnecting connections, and
	// no server went down but the one killed.
	procs := []*proc{r.intake.p}
	for _, nd := range r.cluster.nodes {
		procs = append(procs, nd.p)
	}
	return alive(procs...)
}

func (r *clusterRun) stop() {
	r.intake.p.stop()
	r.cluster.stop()
}

// downTime is how long a killed node stays down.
func downTime(rng *rand.Rand) time.Duration {
	return time.Duration(500+rng.IntN(4500)) * time.Millisecond
}

func killClusterNode(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	r, at, err := startClusterFault(ctx, e, rows, "k", rng)
	if err != nil {
		return err
	}
	defer r.stop()
	nd := r.cluster.nodes[rng.IntN(len(r.cluster.nodes))]
	leader, _ := r.cluster.streamLeader(ctx, subjects.StreamRows)
	killedAt := time.Now()
	nd.p.kill9()
	down := downTime(rng)
	say("killed %s (rows stream leader: %s) %s, imports of %d tenants; down for %s", nd.name, leader, at, len(r.jobs), down)
	time.Sleep(down)
	if err := nd.p.run(); err != nil {
		return err
	}
	return r.finish(ctx, e, killedAt)
}

func killRowsLeader(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	r, at, err := startClusterFault(ctx, e, rows, "l", rng)
	if err != nil {
		return err
	}
	defer r.stop()
	leader, err := r.cluster.streamLeader(ctx, subjects.StreamRows)
	if err != nil {
		return err
	}
	nd := r.cluster.node(leader)
	if nd == nil {
		return fmt.Errorf("the rows stream's leader %q is none of the cluster's nodes", leader)
	}
	killedAt := time.Now()
	nd.p.kill9()
	down := downTime(rng)
	say("killed %s, leader of %s, %s, imports of %d tenants; down for %s", nd.name, subjects.StreamRows, at, len(r.jobs), down)
	time.Sleep(down)
	if err := nd.p.run(); err != nil {
		return err
	}
	if err := r.finish(ctx, e, killedAt); err != nil {
		return err
	}
	now, err := r.cluster.streamLeader(ctx, subjects.StreamRows)
	if err != nil {
		return err
	}
	say("%s leader afterwards: %s", subjects.StreamRows, now)
	return nil
}
