package app

import (
	"context"

	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/services/undo"
)

// runUndo runs one instance of the undo stage: undo jobs, with before-images
// kept as long as the rows (--rows-retention).
func runUndo(ctx context.Context, s *stack, d platform.Deps, _ int) error {
	return undo.Run(ctx, undo.Config{Runner: s.cfg.Runner, Retention: s.cfg.RowsRetention}, d)
}
