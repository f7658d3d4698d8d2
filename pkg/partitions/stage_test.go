package partitions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

// RunStage gives the runner the stage's name and dead letter: a chunk the
// handler refuses lands on the stage's dead-letter subject with the
// reason, and the stage's own accounting of it is published beside it.
func TestRunStageDeadLettersUnderTheStagesName(t *testing.T) {
	nc, js := streamstest.Start(t, streams.Config{Partitions: 2})
	ctx, cancel := context.WithCancel(context.Background())
	rows := subjects.For(subjects.Unique, "acme", "imp_1")
	accounted := subjects.For(subjects.Outcomes, "acme", "imp_1")
	dead, err := nc.SubscribeSync(subjects.DeadFor("writer", rows))
	if err != nil {
		t.Fatal(err)
	}
	outcome, err := nc.SubscribeSync(accounted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, rows, []byte("chunk")); err != nil {
		t.Fatal(err)
	}
	h := Handling{
		Name: "writer",
		Handler: func(context.Context, runner.Msg) ([]runner.Output, error) {
			return nil, runner.Permanent(errors.New("malformed chunk"))
		},
		DeadLetter: func(m runner.Msg, reason string) []runner.Output {
			return []runner.Output{{Subject: accounted, Data: []byte(string(m.Data) + ": " + reason)}}
		},
	}
	st := Stage{Stream: subjects.StreamUnique, Subject: subjects.Unique, Durable: "writer", MaxAckPending: 1}
	done := make(chan error, 1)
	go func() {
		done <- RunStage(ctx, js, st, StageConfig{Partitions: Config{Partitions: 2}}, h, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel+1)))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunStage: %v", err)
		}
	}()

	d := nextMsg(t, dead)
	if got := d.Header.Get(runner.HeaderReason); got != "malformed chunk" || string(d.Data) != "chunk" {
		t.Errorf("dead letter %q with reason %q, want the chunk with reason %q", d.Data, got, "malformed chunk")
	}
	if got := string(nextMsg(t, outcome).Data); got != "chunk: malformed chunk" {
		t.Errorf("the stage's dead-letter output is %q, want %q", got, "chunk: malformed chunk")
	}
}

func nextMsg(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(time.Minute)
	if err != nil {
		t.Fatalf("nothing on %s: %v", sub.Subject, err)
	}
	return m
}
