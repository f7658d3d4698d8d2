package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/intake/intake/pkg/client"
)

// undoCommand: intake undo [--dry-run] [--json] ID — reverse what an import wrote.
func undoCommand() *cobra.Command {
	var dryRun, wait, asJSON bool
	cmd := clientCommand(&cobra.Command{
		Use:   "undo [--dry-run] [--json] ID",
		Short: "Undo an import: delete what it created, set back what it changed",
		Long: "Undo an import: the records it created are deleted, the fields it updated set back to their\n" +
			"values before it, the records its replace deleted stored again. A record another import wrote\n" +
			"since is kept as it is (listed by intake errors --skipped UNDO-ID). An import can be undone\n" +
			"once, within --rows-retention.\n\n" + exitCodes,
		Example: "  intake undo --dry-run imp_0123456789abcdef\n  intake undo imp_0123456789abcdef",
		Args:    args(1, "one import ID"),
	}, func(cmd *cobra.Command, c *client.REST, args []string) error {
		sum, err := c.Undo(cmd.Context(), args[0], dryRun)
		if err != nil {
			return fmt.Errorf("undo %s: %w", args[0], err)
		}
		if wait {
			if sum, err = follow(cmd.Context(), c, sum.ID, 0, cmd.ErrOrStderr(), false); err != nil {
				return err
			}
		}
		return reportUndo(sum, cmd.OutOrStdout(), asJSON)
	})
	fs := cmd.Flags()
	fs.BoolVar(&dryRun, "dry-run", false, "report what the undo would do, change nothing")
	fs.BoolVar(&wait, "wait", true, "wait for the undo to finish")
	fs.BoolVar(&asJSON, "json", false, "print the undo's whole summary as JSON")
	return cmd
}

// reportUndo prints an undo's summary; the exit code says whether records failed.
func reportUndo(s *client.Summary, w io.Writer, asJSON bool) error {
	if asJSON {
		if err := json.NewEncoder(w).Encode(s); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "undo %s of %s %s", s.ID, s.UndoOf, s.Status)
		if s.DryRun {
			fmt.Fprint(w, " (dry run: nothing was changed)")
		}
		fmt.Fprintf(w, ": %d reversed, %d kept, %d failed\n", s.Reversed, s.Kept, s.Failed)
		if s.Kept > 0 {
			fmt.Fprintf(w, "kept records (written by another import since): intake errors --skipped %s\n", s.ID)
		}
	}
	return exitFor(s)
}
