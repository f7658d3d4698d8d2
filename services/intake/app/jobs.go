package app

import (
	"context"

	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/services/reporter"
)

// runJobs runs the jobs module: replace mode's deletions, dropping finished
// imports' claim logs, and the retention sweep, beside the reporter's
// ordered accounting.
func runJobs(ctx context.Context, s *stack, d platform.Deps, _ int) error {
	return reporter.RunJobs(ctx, reporter.JobsConfig{Runner: s.cfg.Runner, Retention: s.cfg.Retention}, d)
}
