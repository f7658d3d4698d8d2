package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// fairnessRuns is how many small imports each measurement times; it
// reports their median.
const fairnessRuns = 5

// fairness is `bench --fairness`: a tenant's 10-row import on the idle
// system, then submitted right after another tenant's import of rows
// contacts, then right after another tenant's expensive rows (persons rows
// with every handle list full). It prints the times and their ratio to the
// idle one (target <= 5x).
func fairness(o *operated, rows int) error {
	bigFile := filepath.Join(o.dir, "contacts.csv")
	if err := writeContacts(bigFile, rows, 0); err != nil {
		return err
	}
	const heavyRows = 2000
	heavyFile := filepath.Join(o.dir, "persons.csv")
	if err := writePersons(heavyFile, heavyRows); err != nil {
		return err
	}
	// The deduplicator's partitions are by tenant: the three tenants are
	// chosen in different ones (with 16 partitions, 1 in 16 would share).
	tenants := tenantsApart("small", "big", "heavy")
	api := map[string]*client.REST{}
	for _, tenant := range tenants {
		var err error
		if api[tenant], err = o.tenant(context.Background(), tenant); err != nil {
			return err
		}
	}
	small, big, heavy := api[tenants[0]], api[tenants[1]], api[tenants[2]]
	fmt.Printf("fairness: a 10-row import of one tenant beside another tenant's import, embedded default, %d cores\n", runtime.NumCPU())

	// The small tenant's first import makes its records collection and
	// indexes: not what is measured.
	run := 1
	if _, _, err := smallImport(small, run); err != nil {
		return err
	}
	smallImports := func(other *client.REST, otherID string) (time.Duration, error) {
		var took []time.Duration
		for range fairnessRuns {
			run++
			d, id, err := smallImport(small, run)
			if err != nil {
				return 0, err
			}
			took = append(took, d)
			note := ""
			if other != nil {
				note = besideNote(other, otherID, tenants[0], id)
			}
			fmt.Printf("  10 rows: %s%s\n", d.Round(time.Millisecond), note)
		}
		slices.Sort(took)
		return took[len(took)/2], nil
	}
	idle, err := smallImports(nil, "")
	if err != nil {
		return err
	}
	fmt.Printf("idle system:                                  %8s (median of %d)\n", idle.Round(time.Millisecond), fairnessRuns)

	for _, other := range []struct {
		what, path, schema string
		api                *client.REST
	}{
		{fmt.Sprintf("%d contacts rows", rows), bigFile, "contacts", big},
		{fmt.Sprintf("%d persons rows of 300 handles each", heavyRows), heavyFile, "persons", heavy},
	} {
		start := time.Now()
		id, err := upload(other.api, other.path, other.schema)
		if err != nil {
			return err
		}
		behind, err := smallImports(other.api, id)
		if err != nil {
			return err
		}
		fmt.Printf("behind another tenant's %s: %8s (%.1fx idle, target <= 5x)\n", other.what, behind.Round(time.Millisecond), float64(behind)/float64(idle))
		sum, err := waitDone(other.api, id)
		if err != nil {
			return err
		}
		fmt.Printf("  the other import: %s in %s (created=%d updated=%d failed=%d)\n", sum.Status, time.Since(start).Round(time.Millisecond), sum.Created, sum.Updated, sum.Failed)
	}
	return nil
}

// tenantsApart returns tenants named after names (with a number added
// where needed) that fall into different partitions of INTAKE_VALID.
func tenantsApart(names ...string) []string {
	var out []string
	used := map[int]bool{}
	for _, name := range names {
		for i := 0; ; i++ {
			t := fmt.Sprintf("%s%d", name, i)
			if p := subjects.Partition(subjects.Valid, t, "", streams.DefaultPartitions); !used[p] {
				used[p] = true
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// besideNote says how far the other import was when the small one
// completed, and which of the small import's partitions it shares (the
// import-keyed ones: by chance, 1 in 16 each).
func besideNote(other *client.REST, otherID, tenant, id string) string {
	sum, err := other.Summary(context.Background(), otherID, 0)
	if err != nil {
		return ""
	}
	otherTenant := sum.Tenant
	var shared []string
	for _, stage := range []string{subjects.Rows, subjects.Unique, subjects.Outcomes} {
		if subjects.Partition(stage, tenant, id, streams.DefaultPartitions) == subjects.Partition(stage, otherTenant, otherID, streams.DefaultPartitions) {
			shared = append(shared, strings.TrimPrefix(stage, "intake."))
		}
	}
	note := fmt.Sprintf("  (the other import %s, %d of %d rows accounted", sum.Status, sum.Processed, sum.Total)
	if len(shared) > 0 {
		note += ", sharing its partition of " + strings.Join(shared, ", ")
	}
	return note + ")"
}

// smallImport uploads 10 new contacts and returns the time from the start
// of the upload to the completed summary.
func smallImport(api *client.REST, run int) (time.Duration, string, error) {
	var file bytes.Buffer
	file.WriteString("name,email,phone,company\n")
	for i := range 10 {
		fmt.Fprintf(&file, "Small %d-%d,small%d.%d@example.com,+1 201 555 %04d,Small Co\n", run, i, run, i, i)
	}
	start := time.Now()
	accepted, err := api.Upload(context.Background(), "small.csv", &file, client.UploadOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("small upload: %w", err)
	}
	sum, err := waitDone(api, accepted.ID)
	if err != nil {
		return 0, "", err
	}
	if sum.Status != client.StatusCompleted || sum.Created != 10 {
		return 0, "", fmt.Errorf("small import %s: %+v", accepted.ID, *sum)
	}
	return time.Since(start), accepted.ID, nil
}

func upload(api *client.REST, path, schema string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	accepted, err := api.Upload(context.Background(), filepath.Base(path), f, client.UploadOptions{Schema: schema})
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", filepath.Base(path), err)
	}
	return accepted.ID, nil
}

// waitDone waits for an import's summary to say it is done.
func waitDone(api *client.REST, id string) (*client.Summary, error) {
	for {
		sum, err := api.Summary(context.Background(), id, 30*time.Second)
		if err != nil {
			return nil, err
		}
		if sum.Done() {
			return sum, nil
		}
	}
}

// writePersons writes n persons rows, each with the most handles a row may
// have: 100 emails, 100 phone numbers and 100 usernames, none shared.
func writePersons(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "slashid:emails,slashid:phone_numbers,slashid:usernames")
	list := func(r int, format string) string {
		items := make([]string, 100)
		for i := range items {
			// From 2,000,000: a phone number's exchange must not start with 0.
			items[i] = fmt.Sprintf(format, 2_000_000+r*100+i)
		}
		return `"` + strings.Join(items, ",") + `"`
	}
	for r := range n {
		fmt.Fprintf(w, "%s,%s,%s\n", list(r, "heavy%d@example.com"), list(r, "+1201%07d"), list(r, "heavy%d"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
