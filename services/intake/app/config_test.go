package app_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/reporter"
)

// An empty configuration runs with the defaults of `intake serve`
// (Default), except where zero means something of its own; what Run logs is
// therefore what is in effect (the start line once said ack_wait 0).
func TestConfigDefaults(t *testing.T) {
	got := app.Config{}.Defaults()
	want := app.Default()
	want.MaxConcurrent = 0 // no limit, not "unset"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Config{}.Defaults() = %+v,\nwant %+v", got, want)
	}
	if got.Runner.AckWait != 30*time.Second || got.UnsealedTimeout != time.Hour || got.ChunkSize != 500 {
		t.Fatalf("defaults in effect: ack wait %s, unsealed timeout %s, chunk size %d", got.Runner.AckWait, got.UnsealedTimeout, got.ChunkSize)
	}
	// Set fields stay; a negative unsealed timeout (never) stays negative.
	set := app.Config{HTTPAddr: "127.0.0.1:0", UnsealedTimeout: -1, Targets: []string{"writer"}}.Defaults()
	if set.HTTPAddr != "127.0.0.1:0" || set.UnsealedTimeout != -1 || !reflect.DeepEqual(set.Targets, []string{"writer"}) {
		t.Fatalf("set fields changed: %+v", set)
	}
	// A nested field set stays, its unset neighbours get their defaults.
	nested := app.Config{Partitions: partitions.Config{PinnedTTL: time.Second}}.Defaults()
	if nested.Partitions.PinnedTTL != time.Second || nested.Partitions.Partitions != streams.DefaultPartitions {
		t.Fatalf("partitions %+v, want the pinned TTL set and the default partitions", nested.Partitions)
	}
	if all := (app.Config{Targets: []string{"all"}}).Defaults(); !reflect.DeepEqual(all.Targets, app.Services()) {
		t.Fatalf("targets all = %v, want %v", all.Targets, app.Services())
	}
}

// A summary retention shorter than the rows' stops the start with a
// message naming both flags; negative (kept) or as long is fine.
func TestRetentionValidated(t *testing.T) {
	day := 24 * time.Hour
	short := app.Config{RowsRetention: 7 * day, Retention: reporter.Retention{Summaries: day}}.Defaults()
	if err := short.Validate(); err == nil || !strings.Contains(err.Error(), "--summary-retention") || !strings.Contains(err.Error(), "--rows-retention") {
		t.Errorf("Validate = %v, want an error naming --summary-retention and --rows-retention", err)
	}
	for _, summaries := range []time.Duration{-1, 7 * day, 30 * day} {
		c := app.Config{RowsRetention: 7 * day, Retention: reporter.Retention{Summaries: summaries}}.Defaults()
		if err := c.Validate(); err != nil {
			t.Errorf("summary retention %s: %v", summaries, err)
		}
	}
}
