package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A FerretDB run as its own process indexes the _id of every collection
// its clients create, also one dropped and created again, so that
// FerretDB's filter by _id is an index search, not a scan.
func TestIndexCollections(t *testing.T) {
	f, db := startFerretDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.KeepIndexing(ctx, 20*time.Millisecond, func(err error) { t.Errorf("KeepIndexing: %v", err) })
	}()
	defer func() { cancel(); <-done }()

	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "t.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	// A fresh connection for every look: EXPLAIN does not reload a schema
	// another connection changed (running the query itself would).
	sdb.SetMaxIdleConns(0)
	for round := 1; round <= 2; round++ {
		if _, err := db.Collection("people").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
			t.Fatal(err)
		}
		var table string
		if err := sdb.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = 'people'`).Scan(&table); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			plan := queryPlan(t, sdb, fmt.Sprintf(`SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = '"a"'`, table))
			if strings.Contains(plan, table+"_intake_id") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the filter by _id still scans: %s", round, plan)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := db.Collection("people").Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func queryPlan(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN " + q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
