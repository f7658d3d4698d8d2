package main

// The many-tenants run (`bench --tenants N`): N tenants' first imports on
// the embedded default, as the product makes them: an operator creates
// one API key per tenant (POST /v1/keys), and each tenant uploads a
// three-row contacts file with its own key and waits for its summary. It
// prints the total time, the per-tenant first-import latency (upload to
// completed summary, p50 and p99), the collections in the databases and
// the size of the data directory.

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/embedded"
)

// tenantsAtOnce is how many tenants import at the same time: first imports
// arriving together, as after an onboarding campaign, without one tenant
// queueing behind all the others.
const tenantsAtOnce = 8

// runTenants is the many-tenants run on o, a fresh data directory.
func runTenants(o *operated, n int) error {
	fmt.Printf("%d tenants' first imports (3 contacts rows each, %d at a time), embedded default, %d cores\n", n, tenantsAtOnce, runtime.NumCPU())

	ctx := context.Background()
	start := time.Now()
	apis := make([]*client.REST, n)
	for i := range apis {
		var err error
		if apis[i], err = o.tenant(ctx, tenantName(i)); err != nil {
			return err
		}
	}
	fmt.Printf("  %d keys created in %s\n", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	var lat latencies
	work := make(chan int)
	errs := make(chan error, tenantsAtOnce)
	var wg sync.WaitGroup
	for range tenantsAtOnce {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				d, err := firstImport(ctx, apis[i], i)
				if err != nil {
					errs <- fmt.Errorf("tenant %s: %w", tenantName(i), err)
					return
				}
				lat.add(d)
			}
		}()
	}
	var failed error
feed:
	for i := range n {
		select {
		case work <- i:
		case failed = <-errs:
			break feed
		}
		if (i+1)%1000 == 0 {
			fmt.Printf("  %d tenants started after %s; so far %s\n", i+1, time.Since(start).Round(time.Second), lat.report())
		}
	}
	close(work)
	wg.Wait()
	if failed != nil {
		return failed
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	total := time.Since(start)
	fmt.Printf("  all %d first imports in %s (%.1f tenants/s); %s\n", n, total.Round(time.Second), float64(n)/total.Seconds(), lat.report())

	colls, err := countCollections(ctx, o.data)
	if err != nil {
		return err
	}
	fmt.Printf("  collections: %s\n", colls)
	size, err := dirSize(o.data)
	if err != nil {
		return err
	}
	fmt.Printf("  data directory: %d MiB\n", size>>20)
	return nil
}

// latencies collects the first imports' latencies as they finish.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
}

// report is the count, p50, p99 and max so far.
func (l *latencies) report() string {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	if len(d) == 0 {
		return "none finished"
	}
	slices.Sort(d)
	return fmt.Sprintf("%d finished, per tenant p50 %s, p99 %s, max %s", len(d), d[len(d)/2].Round(time.Millisecond),
		d[len(d)*99/100].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
}

func tenantName(i int) string { return fmt.Sprintf("t%05d", i) }

// firstImport uploads a tenant's first file and waits for its summary.
func firstImport(ctx context.Context, api *client.REST, i int) (time.Duration, error) {
	start := time.Now()
	csv := fmt.Sprintf("name,email\nAnn %[1]d,ann%[1]d@x.io\nBob %[1]d,bob%[1]d@x.io\nCid %[1]d,cid%[1]d@x.io\n", i)
	accepted, err := api.Upload(ctx, "contacts.csv", strings.NewReader(csv), client.UploadOptions{Mode: "insert"})
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	for {
		sum, err := api.Summary(ctx, accepted.ID, 30*time.Second)
		if err != nil {
			return 0, err
		}
		if sum.Done() {
			if sum.Status != client.StatusCompleted || sum.Created != 3 {
				return 0, fmt.Errorf("import %s: %+v", accepted.ID, *sum)
			}
			return time.Since(start), nil
		}
	}
}

// countCollections counts the collections of each of Intake's databases
// (and their indexes), through the data directory's socket.
func countCollections(ctx context.Context, data string) (string, error) {
	socket, err := embedded.MongoSocketPath(data)
	if err != nil {
		return "", err
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(embedded.MongoSocketURI(socket)))
	if err != nil {
		return "", err
	}
	defer mc.Disconnect(ctx)
	var parts []string
	all := 0
	for _, db := range []string{"intake", "intake_records", "intake_dedup"} {
		names, err := mc.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return "", fmt.Errorf("list collections of %s: %w", db, err)
		}
		indexes := 0
		for _, name := range names {
			specs, err := mc.Database(db).Collection(name).Indexes().ListSpecifications(ctx)
			if err != nil {
				return "", err
			}
			indexes += len(specs)
		}
		all += len(names) + indexes
		parts = append(parts, fmt.Sprintf("%s %d (indexes %d)", db, len(names), indexes))
	}
	return fmt.Sprintf("%s; collections plus indexes %d", strings.Join(parts, ", "), all), nil
}

// dirSize is the size of the files under dir.
func dirSize(dir string) (int64, error) {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		return nil
	})
	return size, err
}
