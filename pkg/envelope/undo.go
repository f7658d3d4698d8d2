package envelope

import "time"

// UndoRequest asks the undo module to run an undo job: reverse what import
// Original wrote (or, DryRun, only tell what reversing would do), as the
// import Undo, whose summary has been saved processing. Published on
// intake.undo.<tenant>.<undo>.
type UndoRequest struct {
	Tenant   string    `json:"tenant"`
	Undo     string    `json:"undo"`
	Original string    `json:"original"`
	DryRun   bool      `json:"dry_run,omitempty"`
	At       time.Time `json:"at"`
}
