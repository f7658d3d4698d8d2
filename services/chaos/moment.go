package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// The moment of a fault is chosen from the imports' progress, not from a
// delay: a delay sized for one pipeline speed lands after the imports
// have finished once the pipeline is faster, and the fault then tests
// nothing. Both waits fail when the work was over before the fault
// (unless env.lateFaultOK).

// chunkRows is how many rows ingest puts in a chunk (its default).
const chunkRows = 500

// maxShare is the latest point of the work a fault is aimed at: later, the
// work could end between two looks (the counts grow in jumps: 0.9 was
// overshot to 100% once in 10 runs, and to 98% once).
const maxShare = 0.75

// pollEvery is how often progress is read while waiting for the moment.
const pollEvery = 50 * time.Millisecond

// waitCounted waits until the imports have counted a random number of
// their rows, from least to 75% of them, and says how far they were.
func waitCounted(ctx context.Context, e *env, base string, jobs []*job, least int, rng *rand.Rand) (string, error) {
	total := totalRows(jobs)
	target := least + int(rng.Float64()*(maxShare*float64(total)-float64(least)))
	counted := 0
	err := poll(ctx, "the imports to count "+fmt.Sprint(target)+" rows", func() (bool, error) {
		counted = 0
		for _, j := range jobs {
			var s summary
			if err := getJSONAs(base+"/v1/imports/"+j.id, j.t.key, &s); err != nil {
				return false, err
			}
			counted += s.Processed
		}
		return counted >= target, nil
	})
	if err != nil {
		return "", err
	}
	at := fmt.Sprintf("with %d of %d rows counted (%.0f%%)", counted, total, 100*float64(counted)/float64(total))
	if counted >= total {
		return e.late(at, fmt.Errorf("the imports had counted all %d rows before the fault (aimed at %d)", total, target))
	}
	return at, nil
}

// waitStage waits until the stage's process (HTTP address addr) has acked a
// random share (0 to 75%) of chunks more messages than before, and says how
// far it was. chunks is what the stage has to do; done, the acked count
// that means it did all of it (0: not known, as for the reporter, whose
// messages are outcomes of every stage).
func waitStage(ctx context.Context, e *env, addr, stage string, before float64, chunks, done int, rng *rand.Rand) (string, error) {
	target := before + float64(int(rng.Float64()*maxShare*float64(chunks)))
	var acked float64
	err := poll(ctx, stage+" to ack "+fmt.Sprint(target-before)+" chunks", func() (bool, error) {
		counts, err := chunkCounts(addr)
		if err != nil {
			return false, err
		}
		acked = counts[stage+"/acked"]
		return acked >= target, nil
	})
	if err != nil {
		return "", err
	}
	at := fmt.Sprintf("with %.0f of its %d chunks acked", acked-before, chunks)
	if done == 0 {
		at = fmt.Sprintf("with %.0f messages acked (the imports have %d chunks)", acked-before, chunks)
	}
	if done > 0 && acked-before >= float64(done) {
		return e.late(at, fmt.Errorf("%s had acked all %d chunks before the fault (aimed at %.0f)", stage, done, target-before))
	}
	return at, nil
}

// late is the outcome of a wait that found the work over: err, or where
// that is allowed, the moment marked as late.
func (e *env) late(at string, err error) (string, error) {
	if e.lateFaultOK {
		return at + " (late: the work was over)", nil
	}
	return "", err
}

// poll calls ready every pollEvery until it says yes, for at most 5 minutes.
func poll(ctx context.Context, what string, ready func() (bool, error)) error {
	deadline := time.Now().Add(5 * time.Minute)
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var ok bool
		if ok, err = ready(); err == nil && ok {
			return nil
		}
		time.Sleep(pollEvery)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("waiting for %s: not within 5m0s (%v)", what, err)
}
