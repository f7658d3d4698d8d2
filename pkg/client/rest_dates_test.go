package client

import (
	"slices"
	"testing"
)

func TestUploadOptionsSendDateFormat(t *testing.T) {
	got := UploadOptions{DateFormat: "dmy"}.fields()
	if !slices.Contains(got, [2]string{"date_format", "dmy"}) {
		t.Fatalf("fields %v lack date_format=dmy", got)
	}
	if slices.ContainsFunc(UploadOptions{}.fields(), func(f [2]string) bool { return f[0] == "date_format" }) {
		t.Fatal("an empty date_format is sent")
	}
}
