package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// ownerScenarios kill the instance that holds an import's partition of a
// partitioned stage and leave it dead: only another instance taking the
// partition over (once the pin of the dead one lapses) can finish it.
var ownerScenarios = []scenario{
	{"kill -9 the instance holding an import's partition mid-import (deduplicator, writer, reporter in turn); another takes over", killPartitionOwner},
}

// ownerPinnedTTL is the --pinned-ttl of the kill-owner scenario: short,
// so that the takeover comes within seconds.
const ownerPinnedTTL = "2s"

// partitionedStage is a stage that consumes a partitioned stream.
type partitionedStage struct {
	target  string // its `intake serve --target`
	stage   string // its label in intake_chunks_total
	stream  string
	subject string // the stream's stage prefix, as subjects.Partition takes it
}

// partitionedStages are the stages with one consumer per partition.
var partitionedStages = []partitionedStage{
	{"deduplicator", envelope.StageDedup, subjects.StreamValid, subjects.Valid},
	{"writer", envelope.StageWrite, subjects.StreamUnique, subjects.Unique},
	{"reporter", envelope.StageReport, subjects.StreamOutcomes, subjects.Outcomes},
}

// killPartitionOwner runs every stage as env.instances processes with a
// short pinned TTL and, for each partitioned stage in turn, imports one
// file of one tenant (at least 20,000 rows, so that the kill comes mid-
// import) and kills -9 the process holding that import's partition of the
// stage: the one whose /metrics shows it acking the stage's messages (the
// only import in flight; if the pin moved during the round, the one
// acking at the moment of the kill). Invariants besides the usual ones: a
// client was pinned on the partition's consumer before the kill; after
// it, with the killed process still down, another client is pinned on
// the partition and the import completes exactly. The killed process is then restarted
// for the next round.
func killPartitionOwner(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	if e.instances < 2 {
		return fmt.Errorf("%d instance of each stage: killing the owner needs another to take over", e.instances)
	}
	groups := []string{"ingest", "validator"}
	flags := map[string][]string{}
	for _, st := range partitionedStages {
		groups = append(groups, st.target)
		flags[st.target] = []string{"--pinned-ttl", ownerPinnedTTL}
	}
	s, err := startSplit(ctx, e, splitConfig{groups: groups, flags: flags})
	if err != nil {
		return err
	}
	defer s.stop()
	nc, js, err := streams.Connect(s.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	var all []*job
	for i, st := range partitionedStages {
		j := &job{t: s.tenants[i%len(s.tenants)], c: makeContacts(max(rows, 20_000), "o"+st.target[:3])}
		all = append(all, j)
		if err := killHolder(ctx, e, s, js, st, j, rng, say); err != nil {
			return fmt.Errorf("%s: %w", st.target, err)
		}
	}
	if err := checkIsolation(ctx, s.base, s.mongoURI, all); err != nil {
		return err
	}
	return s.alive()
}

// killHolder is one round of killPartitionOwner: j imported, the holder of
// its partition of st killed, the takeover and the import checked, the
// holder restarted.
func killHolder(ctx context.Context, e *env, s *split, js jetstream.JetStream, st partitionedStage, j *job, rng *rand.Rand, say func(string, ...any)) error {
	addrs := s.addrs[st.target]
	before, err := ackedBy(addrs, st.stage)
	if err != nil {
		return err
	}
	uploaded := make(chan error, 1)
	go func() { uploaded <- uploadJobs(s.base, []*job{j}) }()
	at, holder, err := waitStage(ctx, e, addrs, st.stage, before, chunksOf([]*job{j}), 1, rng)
	if err != nil {
		return errors.Join(err, <-uploaded)
	}
	// The holder is the instance acking the import's messages now. Since
	// the round began another may have too: a writer's batch (8 chunks)
	// can outlast a 2 s pin on a loaded machine, and the pin moves.
	holder, now, err := ackingNow(ctx, addrs, st.stage, holder)
	if err != nil {
		return errors.Join(err, <-uploaded)
	}
	pinsBefore, err := pins(ctx, js, st)
	if err != nil {
		return errors.Join(err, <-uploaded)
	}
	killed := s.procs[st.target][holder]
	killed.kill9()
	killedAt := time.Now()
	if err := <-uploaded; err != nil {
		return err
	}
	for n := range now {
		if n != holder && now[n] > before[n] {
			say("%s also acked %.0f of the import's messages before the kill (the pin had moved)", s.procs[st.target][n].name, now[n]-before[n])
		}
	}
	p := subjects.Partition(st.subject, j.t.name, j.id, streams.DefaultPartitions)
	owner := "its owner by index"
	if !partitions.Owns(p, holder, e.instances) {
		owner = "a standby that had taken it over"
	}
	say("killed %s, holder of partition %d (%s), %s, import of %s; left down", killed.name, p, owner, at, j.t.name)
	if pinsBefore[p] == "" {
		return fmt.Errorf("no client was pinned on partition %d while %s handled it", p, killed.name)
	}
	took, err := takenOver(ctx, js, st, p, pinsBefore[p], s.base, j)
	if err != nil {
		return err
	}
	if took {
		say("another client pinned on partition %d %s after the kill", p, time.Since(killedAt).Round(100*time.Millisecond))
	} else {
		if _, err := e.late(at, fmt.Errorf("the import completed without a takeover of partition %d: the stage was done with it before the kill", p)); err != nil {
			return err
		}
		say("the import completed before a takeover was needed (late)")
	}
	if _, err := checkImport(ctx, s.base, s.mongoURI, j.t, j.id, j.c, 5*time.Minute, expect{}); err != nil {
		return fmt.Errorf("with %s down: %w", killed.name, err)
	}
	// The survivors (the killed one answers nothing) say who took over.
	for n, addr := range addrs {
		if n == holder {
			continue
		}
		after, err := ackedBy([]string{addr}, st.stage)
		if err != nil {
			return err
		}
		if after[0] > now[n] {
			say("%s acked %.0f of the import's messages after the kill; the import completed exactly", s.procs[st.target][n].name, after[0]-now[n])
		}
	}
	if err := killed.run(); err != nil {
		return err
	}
	return waitReady(ctx, "http://"+addrs[holder])
}

// ackingNow samples the processes' acked counts of stage until exactly
// one of them has moved since the last sample, and returns it with the
// counts. If none does within 10 s (the stage is done with the import),
// it returns fallback.
func ackingNow(ctx context.Context, addrs []string, stage string, fallback int) (int, []float64, error) {
	prev, err := ackedBy(addrs, stage)
	if err != nil {
		return 0, nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(pollEvery)
		now, err := ackedBy(addrs, stage)
		if err != nil {
			return 0, nil, err
		}
		moved := -1
		for i := range now {
			if now[i] > prev[i] {
				if moved >= 0 {
					moved = -2 // two at once: sample again
					break
				}
				moved = i
			}
		}
		if moved >= 0 {
			return moved, now, nil
		}
		prev = now
	}
	return fallback, prev, ctx.Err()
}

// takenOver waits until a client other than was is pinned on partition p
// of st (true), or until j's import has completed without that (false).
func takenOver(ctx context.Context, js jetstream.JetStream, st partitionedStage, p int, was, base string, j *job) (bool, error) {
	took := false
	err := waitFor(ctx, fmt.Sprintf("another instance pinned on partition %d", p), 2*time.Minute, func() error {
		now, err := pins(ctx, js, st)
		if err != nil {
			return err
		}
		if now[p] != "" && now[p] != was {
			took = true
			return nil
		}
		sum, err := restOf(base, j.t).Summary(ctx, j.id, 0)
		if err != nil {
			return err
		}
		if sum.Status == client.StatusCompleted {
			return nil
		}
		return fmt.Errorf("pinned %q, the import %s", now[p], sum.Status)
	})
	return took, err
}

// pins reads the pinned client of each partition consumer of st, by
// partition ("" where none is pinned).
func pins(ctx context.Context, js jetstream.JetStream, st partitionedStage) (map[int]string, error) {
	stream, err := js.Stream(ctx, st.stream)
	if err != nil {
		return nil, err
	}
	filters := map[string]int{}
	for p := range streams.DefaultPartitions {
		filters[subjects.PartitionFilter(st.subject, p)] = p
	}
	out := map[int]string{}
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		p, ok := filters[info.Config.FilterSubject]
		if !ok {
			continue
		}
		for _, g := range info.PriorityGroups {
			if g.PinnedClientID != "" {
				out[p] = g.PinnedClientID
			}
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", st.stream, err)
	}
	return out, nil
}
