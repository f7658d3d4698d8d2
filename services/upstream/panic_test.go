package upstream

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
)

// A request handler that panics answers its request as failed, is counted,
// and leaves the process up (a panic on the handler's goroutine would end it).
func TestPanickingRequestHandlerFailsItsRequestOnly(t *testing.T) {
	mx := metrics.New()
	s := &service{d: platform.Deps{Metrics: mx}, log: zaptest.NewLogger(t)}
	rep, err := s.call(context.Background(), func(context.Context, string, []byte) (any, error) {
		var m map[string]int
		//lint:ignore SA5000 a real runtime panic, on purpose
		m["x"]++
		return "unreachable", nil
	}, "acme", nil)
	if rep != nil || err == nil || !strings.Contains(err.Error(), "the upstream service crashed on this request: panic:") {
		t.Fatalf("reply %v, error %v; want the request failed, saying the service crashed", rep, err)
	}
	if n := testutil.ToFloat64(mx.Panics.WithLabelValues("upstream")); n != 1 {
		t.Fatalf("intake_handler_panics_total{stage=upstream} = %v, want 1", n)
	}
	rep, err = s.call(context.Background(), func(context.Context, string, []byte) (any, error) { return "ok", nil }, "acme", nil)
	if rep != "ok" || err != nil {
		t.Fatalf("a request after the panic: %v %v", rep, err)
	}
}
