package app

import (
	"context"
	"fmt"

	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/services/reporter"
)

// runJobs runs the jobs module: replace mode's deletions, dropping finished
// imports' claim logs, and the retention sweep, beside the reporter's
// ordered accounting.
func runJobs(ctx context.Context, s *stack, d platform.Deps, _ int) error {
	if err := checkRetention(s.cfg); err != nil {
		return err
	}
	return reporter.RunJobs(ctx, reporter.JobsConfig{Runner: s.cfg.Runner, Retention: s.cfg.Retention}, d)
}

// checkRetention refuses a summary retention shorter than the events'
// (--rows-retention): an import whose summary is gone but whose opened
// event is still kept would read as still processing.
func checkRetention(cfg Config) error {
	if r := cfg.Retention.Summaries; r > 0 && r < cfg.RowsRetention {
		return fmt.Errorf("--summary-retention %s is shorter than --rows-retention %s: a removed import would read as processing from its events; keep summaries at least as long", r, cfg.RowsRetention)
	}
	return nil
}
