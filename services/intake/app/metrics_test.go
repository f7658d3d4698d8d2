package app_test

import (
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	v := s.importCSV("name,email\nAnn,ann@x.io\nBob,bob@\nAnn again,ANN@x.io\n", nil)
	if counts(v) != [5]int{1, 0, 1, 1, 0} {
		t.Fatalf("import = %v", counts(v))
	}
	_, body := s.getBody("/metrics")
	text := string(body)
	for _, want := range []string{
		`intake_rows_total{result="created",stage="write"} 1`,
		`intake_rows_total{result="failed",stage="validate"} 1`,
		`intake_rows_total{result="skipped",stage="dedup"} 1`,
		`intake_rows_ingested_total 3`,
		`intake_imports_started_total 1`,
		`intake_imports_finished_total{status="completed"} 1`,
		`intake_chunks_total{outcome="acked",stage="write"} 1`,
		`intake_consumer_pending{consumer="writer-0"} 0`,
		`intake_http_request_seconds_count{code="202",method="POST",route="/v1/imports"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
