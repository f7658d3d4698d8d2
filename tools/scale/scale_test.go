package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseInstances(t *testing.T) {
	got, err := parseInstances("1, 2,4")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 4 {
		t.Fatalf("parseInstances(\"1, 2,4\") = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,,2", "two", "-1"} {
		if _, err := parseInstances(bad); err == nil {
			t.Errorf("parseInstances(%q) accepted it", bad)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	good := config{tenants: 1, rows: 1, instances: []int{1}, delay: 2 * time.Millisecond}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]config{
		"no tenants":      {rows: 1, delay: 0},
		"no rows":         {tenants: 1},
		"sub-millisecond": {tenants: 1, rows: 1, delay: 1500 * time.Microsecond},
		"negative delay":  {tenants: 1, rows: 1, delay: -time.Millisecond},
	} {
		if err := c.check(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}

func TestTableRatios(t *testing.T) {
	rss := map[string]int64{"writer": 64 << 20}
	backlog := map[string]int{"reporter": 321}
	got := table([]result{{instances: 1, rowsPerS: 1000, directPerS: 4000, took: time.Second, peakRSS: rss,
		cpu: map[string]time.Duration{"writer": 1500 * time.Millisecond}, backlog: backlog}, {instances: 4, rowsPerS: 2600, directPerS: 5200, took: time.Second, peakRSS: rss}})
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 11 {
		t.Fatalf("table has %d lines, want a header and 2 rows, then the CPU's and the backlog's two headers and 2 rows each:\n%s", len(lines), got)
	}
	for i, want := range []string{"1.00x 4000 0.25x", "2.60x 5200 0.50x"} {
		// instances, rows/s, ratio, direct, share, then the RSS
		if f := strings.Fields(lines[i+1]); len(f) < 5 || strings.Join(f[2:5], " ") != want {
			t.Errorf("row %d: want ratio, direct loader and share %q: %q", i+1, want, lines[i+1])
		}
	}
	if !strings.Contains(lines[1], " 64 ") {
		t.Errorf("row 1 lacks the writer's 64 MiB: %q", lines[1])
	}
	if !strings.Contains(lines[5], " 1.50 ") || !strings.Contains(lines[5], " 1.5 ") {
		t.Errorf("CPU row 1 lacks 1.50 cores and the writer's 1.5 s: %q", lines[5])
	}
	if !strings.HasSuffix(lines[9], " 321") {
		t.Errorf("backlog row 1 does not end with the reporter's 321: %q", lines[9])
	}
}

func TestBacklogByStage(t *testing.T) {
	var j jsz
	err := json.Unmarshal([]byte(`{"account_details": [{"stream_detail": [
		{"consumer_detail": [{"name": "validator", "num_pending": 3, "num_ack_pending": 1}]},
		{"consumer_detail": [{"name": "writer-0", "num_pending": 2}, {"name": "writer-15", "num_ack_pending": 4},
			{"name": "writer-x", "num_pending": 100}, {"name": "upstream", "num_pending": 100}]}]}]}`), &j)
	if err != nil {
		t.Fatal(err)
	}
	got := backlogByStage(j)
	if len(got) != 2 || got["validator"] != 4 || got["writer"] != 6 {
		t.Fatalf("backlogByStage = %v, want validator 4, writer 6 (writer-x and upstream are no stage's)", got)
	}
}

// TestScaleShort is a short `make scale`: real processes, the database
// behind the delaying proxy, two tenants importing at once on one and then
// two instances of every stage, every count exact (run checks them and
// fails otherwise). Skipped by -short: it builds the binaries first.
func TestScaleShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no binaries built, no processes run")
	}
	var out strings.Builder
	cfg := config{tenants: 2, rows: 500, instances: []int{1, 2}, delay: 2 * time.Millisecond}
	results, err := run(context.Background(), cfg, t.TempDir(), &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].instances != 1 || results[1].instances != 2 {
		t.Fatalf("results %+v, want one for 1 and one for 2 instances", results)
	}
	for _, r := range results {
		for _, kind := range rssKinds {
			if r.peakRSS[kind] <= 0 {
				t.Errorf("%d instances: no peak RSS of %s", r.instances, kind)
			}
		}
	}
}
