package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/intake/intake/pkg/client"
)

// tenant is who imports, with its own API key.
type tenant struct{ name, key string }

// createTenants creates n tenants' API keys with the admin key at base.
func createTenants(ctx context.Context, base string, n int) ([]tenant, error) {
	admin := client.NewREST(base, client.WithAPIKey(adminKey))
	out := make([]tenant, n)
	for i := range out {
		name := "tenant" + strconv.Itoa(i+1)
		key, err := admin.CreateKey(ctx, client.KeyRequest{Name: "scale-" + name, Tenant: name,
			Capabilities: []string{"imports:write", "imports:read"}})
		if err != nil {
			return nil, fmt.Errorf("key for tenant %s: %w", name, err)
		}
		out[i] = tenant{name: name, key: key.Secret}
	}
	return out, nil
}

// contactsCSV is a contacts file of rows distinct rows for the built-in
// schema: every row a new record.
func contactsCSV(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("name,email,phone,company\n")
	for i := range rows {
		fmt.Fprintf(&b, "Person %d,person%d@example.com,+1 201 555 %04d,Company %d\n", i, i, i%10000, i%97)
	}
	return b.Bytes()
}

// importAll has every tenant upload file at once, through the ingest
// processes in turn, waits until every import has finished and checks that
// each created exactly rows records and nothing else. It returns the time
// from the first upload to the last import finished.
func importAll(ctx context.Context, ingests []string, tenants []tenant, file []byte, rows int) (time.Duration, error) {
	start := time.Now()
	errs := make([]error, len(tenants))
	var wg sync.WaitGroup
	for i, t := range tenants {
		api := client.NewREST(ingests[i%len(ingests)], client.WithAPIKey(t.key))
		wg.Go(func() { errs[i] = importOne(ctx, api, t, file, rows) })
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return took, nil
}

// importOne uploads file for t and waits for its summary, which must show
// every row created.
func importOne(ctx context.Context, api *client.REST, t tenant, file []byte, rows int) error {
	accepted, err := api.Upload(ctx, "contacts.csv", bytes.NewReader(file), client.UploadOptions{})
	if err != nil {
		return fmt.Errorf("tenant %s: upload: %w", t.name, err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		sum, err := api.Summary(ctx, accepted.ID, 30*time.Second)
		if err != nil {
			return fmt.Errorf("tenant %s: import %s: %w", t.name, accepted.ID, err)
		}
		if sum.Done() {
			return checkCounts(*sum, rows)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tenant %s: import %s not finished after 30 minutes: %d of %d rows processed", t.name, accepted.ID, sum.Processed, rows)
		}
	}
}

// checkCounts fails unless a finished import of rows new rows completed
// with every row created.
func checkCounts(s client.Summary, rows int) error {
	if s.Status != client.StatusCompleted || s.Total != rows || s.Processed != rows || s.Created != rows ||
		s.Updated != 0 || s.Skipped != 0 || s.Failed != 0 {
		return fmt.Errorf("tenant %s: import %s: %s, total %d, processed %d, created %d, updated %d, skipped %d, failed %d; want completed with all %d rows created",
			s.Tenant, s.ID, s.Status, s.Total, s.Processed, s.Created, s.Updated, s.Skipped, s.Failed, rows)
	}
	return nil
}
