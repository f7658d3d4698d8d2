package main

import (
	"context"
	"math/rand/v2"
	"testing"
)

// A short version of the fault harness: each scenario once, small imports.
// `make chaos` runs it longer and repeatedly.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs processes")
	}
	e, err := build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.times = shortTiming
	e.lateFaultOK = true // imports of 6,000 rows are over too soon to aim at
	passed, failed := runAll(context.Background(), e, 1, 6000, "", rand.New(rand.NewPCG(1, 2)), t.Logf)
	if failed > 0 || passed != len(scenarios) {
		t.Fatalf("%d passed, %d failed", passed, failed)
	}
}
