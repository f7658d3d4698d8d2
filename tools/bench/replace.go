package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/intake/intake/pkg/client"
)

// replaceRun is `bench --replace`: one tenant's rows contacts inserted,
// then a replace holding one of them, which deletes all the others in its
// own job; while it deletes, another tenant's 10-row imports are timed
// against the same imports on the idle system (the replace's deletions
// must hold back no other import's accounting). It prints the replace's
// time, its deletion rate and its counts.
func replaceRun(o *operated, rows int) error {
	ctx := context.Background()
	tenants := tenantsApart("big", "small")
	big, err := o.tenant(ctx, tenants[0])
	if err != nil {
		return err
	}
	small, err := o.tenant(ctx, tenants[1])
	if err != nil {
		return err
	}
	fmt.Printf("replace: %d contacts, then a replace holding one of them, embedded default\n", rows)
	file := filepath.Join(o.dir, "contacts.csv")
	if err := writeContacts(file, rows, 0); err != nil {
		return err
	}
	if _, err := importFile(ctx, big, file, "insert", rows, nil); err != nil {
		return err
	}
	run := 1
	if _, _, err := smallImport(small, run); err != nil { // makes the small tenant's collection
		return err
	}
	smallImports := func() (time.Duration, error) {
		var took []time.Duration
		for range fairnessRuns {
			run++
			d, _, err := smallImport(small, run)
			if err != nil {
				return 0, err
			}
			took = append(took, d)
		}
		slices.Sort(took)
		return took[len(took)/2], nil
	}
	idle, err := smallImports()
	if err != nil {
		return err
	}

	var one bytes.Buffer
	one.WriteString("name,email,phone,company\n")
	fmt.Fprintf(&one, "Person 0,user0@example.com,+1 201 555 %04d,Company 0\n", 0)
	start := time.Now()
	accepted, err := big.Upload(ctx, "one.csv", &one, client.UploadOptions{Mode: "replace"})
	if err != nil {
		return fmt.Errorf("replace upload: %w", err)
	}
	var deletingAt time.Time
	for deletingAt.IsZero() {
		sum, err := big.Summary(ctx, accepted.ID, 0)
		if err != nil {
			return err
		}
		switch {
		case sum.Done():
			return fmt.Errorf("replace %s finished before its deletions were seen: %+v", accepted.ID, *sum)
		case sum.Deleting != nil:
			deletingAt = time.Now()
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}
	beside, err := smallImports()
	if err != nil {
		return err
	}
	sum, err := waitDone(big, accepted.ID)
	if err != nil {
		return err
	}
	took := time.Since(start)
	deleting := took - deletingAt.Sub(start)
	fmt.Printf("  replace: %s in %s (deletions %s, %.0f records/s): updated=%d skipped=%d deleted=%d failed=%d\n",
		sum.Status, took.Round(time.Second), deleting.Round(time.Second), float64(sum.Deleted)/deleting.Seconds(),
		sum.Updated, sum.Skipped, sum.Deleted, sum.Failed)
	fmt.Printf("  10-row import of another tenant: idle %s, during the deletions %s (%.1fx; medians of %d)\n",
		idle.Round(time.Millisecond), beside.Round(time.Millisecond), float64(beside)/float64(idle), fairnessRuns)
	if sum.Status != client.StatusCompleted || sum.Deleted != rows-1 {
		return fmt.Errorf("replace %s: want completed with %d deleted, got %+v", accepted.ID, rows-1, *sum)
	}
	return nil
}
