package imports

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
)

// window publishes asynchronously in bursts of at most n messages and waits
// for each burst to be stored, so a fast upload cannot outrun the broker in
// memory.
type window struct {
	js      jetstream.JetStream
	n       int
	pending []*nats.Msg
}

func newWindow(js jetstream.JetStream, n int) *window { return &window{js: js, n: n} }

func (p *window) json(ctx context.Context, subject, msgID string, v any) error {
	o, err := platform.JSONOutput(subject, msgID, v)
	if err != nil {
		return err
	}
	return p.add(ctx, []runner.Output{o})
}

// add queues outputs, publishing the burst once it is full.
func (p *window) add(ctx context.Context, outs []runner.Output) error {
	p.pending = append(p.pending, runner.Msgs(outs)...)
	if len(p.pending) >= p.n {
		return p.wait(ctx)
	}
	return nil
}

func (p *window) wait(ctx context.Context) error {
	defer func() { p.pending = p.pending[:0] }()
	return runner.PublishAll(ctx, p.js, p.pending, 30*time.Second)
}

// open announces a new import (platform.OpenedOutputs).
func (p *window) open(ctx context.Context, acc envelope.Accounting) error {
	outs, err := platform.OpenedOutputs(acc)
	if err != nil {
		return err
	}
	return p.add(ctx, outs)
}

// seal ends an import's rows with their count (and why they ended early,
// if they did), then waits until everything published is stored.
func (p *window) seal(ctx context.Context, tenant, id string, total int, reason string) error {
	outs, err := platform.SealedOutputs(tenant, id, total, reason)
	if err != nil {
		return err
	}
	if err := p.add(ctx, outs); err != nil {
		return err
	}
	return p.wait(ctx)
}
