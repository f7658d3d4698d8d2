package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/intake/intake/pkg/envelope"
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

// pollEvery is how often progress is read while waiting for the moment,
// and momentLimit how long it is waited for.
const (
	pollEvery   = 50 * time.Millisecond
	momentLimit = 5 * time.Minute
)

// uploadCounted uploads jobs (every upload answered) and then waits, as
// waitCounted does, for the moment of the fault.
func uploadCounted(ctx context.Context, e *env, base string, jobs []*job, least int, rng *rand.Rand) (string, error) {
	if err := uploadJobs(base, jobs); err != nil {
		return "", err
	}
	return waitCounted(ctx, e, base, jobs, least, rng)
}

// waitCounted waits until the imports have counted a random number of
// their rows, from least to 75% of them, and says how far they were.
func waitCounted(ctx context.Context, e *env, base string, jobs []*job, least int, rng *rand.Rand) (string, error) {
	total := totalRows(jobs)
	target := least + int(rng.Float64()*(maxShare*float64(total)-float64(least)))
	counted := 0
	err := waitEvery(ctx, "waiting for the imports to count "+fmt.Sprint(target)+" rows", momentLimit, pollEvery, func() error {
		sums, errs := readSummaries(base, jobs)
		if err := errors.Join(errs...); err != nil {
			return err
		}
		counted = 0
		for _, s := range sums {
			counted += s.Processed
		}
		if counted < target {
			return fmt.Errorf("%d counted", counted)
		}
		return nil
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

// waitStage waits until the stage's processes (HTTP addresses addrs)
// have acked, together, a random share (0 to 75%) of chunks more messages
// than before (each process's count at the start, from ackedBy), and says
// how far they were and which process acked most since: the one busy with
// the imports' partitions. chunks is how many source chunks the imports
// have: every stage but the reporter gets one message per chunk, so having
// acked them all means the work was over. (The reporter's messages are
// outcomes of every stage, one or more per chunk.) least is the fewest
// messages to wait for (1 to be sure one process is at work).
func waitStage(ctx context.Context, e *env, addrs []string, stage string, before []float64, chunks, least int, rng *rand.Rand) (string, int, error) {
	target := max(float64(least), float64(int(rng.Float64()*maxShare*float64(chunks))))
	var acked float64
	busiest := 0
	err := waitEvery(ctx, "waiting for "+stage+" to ack "+fmt.Sprint(target)+" chunks", momentLimit, pollEvery, func() error {
		now, err := ackedBy(addrs, stage)
		if err != nil {
			return err
		}
		acked = 0
		for i := range now {
			acked += now[i] - before[i]
			if now[i]-before[i] > now[busiest]-before[busiest] {
				busiest = i
			}
		}
		if acked < target {
			return fmt.Errorf("%.0f acked", acked)
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	if stage == envelope.StageReport {
		return fmt.Sprintf("with %.0f messages acked (the imports have %d chunks)", acked, chunks), busiest, nil
	}
	at := fmt.Sprintf("with %.0f of its %d chunks acked", acked, chunks)
	if acked >= float64(chunks) {
		at, err = e.late(at, fmt.Errorf("%s had acked all %d chunks before the fault (aimed at %.0f)", stage, chunks, target))
	}
	return at, busiest, err
}

// ackedBy reads, from each process's /metrics, how many messages of stage
// it has acked.
func ackedBy(addrs []string, stage string) ([]float64, error) {
	out := make([]float64, len(addrs))
	for i, addr := range addrs {
		counts, err := chunkCounts(addr)
		if err != nil {
			return nil, err
		}
		out[i] = counts[stage+"/acked"]
	}
	return out, nil
}

// workLeft fails a run whose fault came after the work: no import completed
// after the fault at t. A summary read just before the fault can leave
// thousands of rows to count when none are left to do: the reporter counts
// the last rows in a burst once the other stages are idle (100,000 rows in
// 2.5 s, measured), and a read took up to a second on a loaded machine.
// Such a fault tested nothing (in 5 of 10 database outages aimed at 78% to
// 98%, no stage had anything to retry). It returns how many imports
// completed after the fault.
func (e *env) workLeft(base string, jobs []*job, t time.Time) (int, error) {
	late := completedAfter(base, jobs, t)
	if late == 0 && !e.lateFaultOK {
		return 0, fmt.Errorf("every import had completed before the fault: it tested nothing")
	}
	return late, nil
}

// chunksOf is how many source chunks the jobs' imports have.
func chunksOf(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		n += (j.c.total + chunkRows - 1) / chunkRows
	}
	return n
}

// late is the outcome of a wait that found the work over: err, or where
// that is allowed, the moment marked as late.
func (e *env) late(at string, err error) (string, error) {
	if e.lateFaultOK {
		return at + " (late: the work was over)", nil
	}
	return "", err
}
