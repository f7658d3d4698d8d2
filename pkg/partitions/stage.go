package partitions

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/runner"
)

// StageConfig tunes one instance of a pipeline stage: how its runner
// handles messages, and which partitions are its own.
type StageConfig struct {
	Runner     runner.Config
	Partitions Config
}

// Handling is what a pipeline stage does with its messages: its name (in
// logs, metrics and dead-letter subjects), the handler, and the outputs
// that account for a message the runner gives up on.
type Handling struct {
	Name       string
	Handler    runner.Handler
	DeadLetter func(m runner.Msg, reason string) []runner.Output
}

// RunStage runs a pipeline stage over st until ctx ends: Run with the
// runner named and dead-lettered as h says. An unset st.AckWait is the
// runner's, so that the consumers redeliver on the runner's timing.
func RunStage(ctx context.Context, js jetstream.JetStream, st Stage, cfg StageConfig, h Handling, log *zap.Logger) error {
	rc := cfg.Runner
	rc.Name = h.Name
	rc.DeadLetter = h.DeadLetter
	if st.AckWait == 0 {
		st.AckWait = rc.AckWait
	}
	return Run(ctx, js, st, cfg.Partitions, rc, h.Handler, log)
}
