package main

import (
	"strings"
	"testing"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
)

// A summary's warnings are printed, so a guessed date order is not missed.
func TestSummaryTextShowsWarnings(t *testing.T) {
	s := &client.Summary{ID: "imp_x", Status: client.StatusCompleted, Total: 1, Counts: envelope.Counts{Created: 1},
		Warnings: []client.Warning{{Field: "joined", Code: "ambiguous_date", Message: "joined: no value tells the day-month order"}}}
	if text := summaryText(s, 0); !strings.Contains(text, "\nwarning: joined: no value tells the day-month order\n") {
		t.Fatalf("summary text %q lacks the warning", text)
	}
}

// intake import offers --date-format, which the REST client sends as the
// upload's date_format field.
func TestImportHasDateFormatFlag(t *testing.T) {
	if f := importCommand().Flags().Lookup("date-format"); f == nil || !strings.Contains(f.Usage, "dmy") {
		t.Fatalf("intake import --date-format: %+v", f)
	}
}
