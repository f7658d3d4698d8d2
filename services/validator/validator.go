// Package validator is the stage that judges raw rows against their schema.
// Valid rows go on as records to intake.valid; invalid rows are reported
// failed with every problem found.
package validator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/subjects"
)

const (
	// Durable is the consumer name shared by all validator instances.
	Durable = "validator"
	// loops is how many loops pull one partition in an instance: one, since
	// only one chunk of it is in flight anyway. Validating is many times
	// faster than writing, so a second loop only let a large import's
	// validation run further ahead of its writes on a second core, taking
	// it from every other import's stages.
	loops = 1
)

// Config tunes the validator.
type Config = partitions.StageConfig

// Run consumes raw row chunks until ctx ends.
//
// INTAKE_ROWS is partitioned by import: each partition has a loop of its
// own, so a small import is validated beside a large one, not after its
// backlog. One chunk in flight per partition (MaxAckPending 1) keeps an
// import's chunks in file order on INTAKE_VALID, through redeliveries and
// fail-overs too (the dead holder's chunk comes back before any later one),
// so the deduplicator keeps the earlier of two rows with one key; and a
// chunk that takes long (very wide rows, persons rows with many handles)
// holds back only its own partition.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	v := &validator{schemas: d.Schemas}
	st := partitions.Stage{Stream: subjects.StreamRows, Subject: subjects.Rows, Durable: Durable, MaxAckPending: 1, Loops: loops}
	return partitions.RunStage(ctx, d.JS, st, cfg, partitions.Handling{Name: envelope.StageValidate, Handler: v.handle, DeadLetter: deadLetter}, d.Log)
}

// Schemas is what the validator needs: a tenant's schema by name. It reads
// no store of its own.
type Schemas interface {
	Get(ctx context.Context, tenant, name string) (*schema.Schema, bool, error)
}

type validator struct {
	schemas Schemas
}

func (v *validator) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var ch envelope.RowChunk
	if err := json.Unmarshal(m.Data, &ch); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed row chunk: %w", err))
	}
	// NATS permissions scope a publisher to its tenant's subjects; the body
	// must say the same, or a publisher could write into another tenant.
	if want := subjects.For(subjects.Rows, ch.Tenant, ch.Import); m.Subject != want {
		return nil, runner.Permanent(fmt.Errorf("chunk for tenant %q import %q published on %s", ch.Tenant, ch.Import, m.Subject))
	}
	s, found, err := v.schemas.Get(ctx, ch.Tenant, ch.Options.Schema)
	if catalog.Permanent(err) {
		return nil, runner.Permanent(err)
	}
	if err != nil {
		return nil, err
	}
	if !found {
		s = nil
	}
	records, outcomes := Validate(s, &ch)
	rc := envelope.RecordChunk{Tenant: ch.Tenant, Import: ch.Import, Chunk: ch.Chunk, Options: ch.Options, Records: records}
	return platform.PassOutputs(envelope.StageValidate, subjects.Valid, "valid", rc, outcomes)
}

// Validate splits a chunk into valid records and failed rows; s is the
// chunk's schema, nil when the tenant has none of that name.
func Validate(s *schema.Schema, ch *envelope.RowChunk) ([]envelope.Record, []envelope.Outcome) {
	failAll := func(reason string) ([]envelope.Record, []envelope.Outcome) {
		return nil, envelope.FailedRows(rowNumbers(ch), envelope.CodeValidation, reason)
	}
	if s == nil {
		return failAll(fmt.Sprintf("unknown schema %q", ch.Options.Schema))
	}
	keyField, err := s.ResolveKey(ch.Options.Key)
	if err != nil {
		return failAll(err.Error())
	}
	// The date formats resolved when the import opened: every chunk reads
	// dates the same way. A publisher's chunks (the NATS protocol) carry
	// only the date_format given at open.
	dates := ch.Options.DateFormats
	if dates == nil && ch.Options.DateFormat != "" {
		dates = s.DateFieldsAs(ch.Options.DateFormat)
	}
	if s, err = s.WithDateFormats(dates); err != nil {
		return failAll(err.Error())
	}
	plan, err := mapping.ForImport(s, ch.Header, ch.Options.Mapping)
	if err != nil {
		return failAll("header: " + err.Error())
	}
	return validateMapped(s, plan, keyField, ch)
}

// validateMapped validates a chunk's rows mapped by plan (the fields'
// cells, not the raw row), keeping the rows' numbers.
func validateMapped(s *schema.Schema, plan *mapping.Plan, keyField string, ch *envelope.RowChunk) ([]envelope.Record, []envelope.Outcome) {
	fields := plan.Header()
	hm, err := s.MapHeader(fields)
	if err != nil {
		return nil, envelope.FailedRows(rowNumbers(ch), envelope.CodeValidation, "header: "+err.Error())
	}
	var (
		records  []envelope.Record
		outcomes []envelope.Outcome
		columns  []string // field of each mapped cell, for EmptyMeansClear
		cells    []string // the row's mapped cells, reused row after row
	)
	if ch.Options.EmptyMeansClear {
		columns = s.Columns(hm)
	}
	for _, r := range ch.Rows {
		if r.Error != "" {
			outcomes = append(outcomes, envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeMalformed, Message: r.Error}}})
			continue
		}
		if e := schema.RowLengthError(len(r.Cells), len(ch.Header)); e != nil {
			outcomes = append(outcomes, envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{Field: e.Field, Code: envelope.CodeValidation, Message: e.Message}}})
			continue
		}
		cells = plan.RowInto(cells, r.Cells)
		rec, errs := s.Validate(hm, cells, keyField)
		if len(errs) > 0 {
			o := envelope.Outcome{Row: r.Row, Result: envelope.Failed}
			for _, e := range errs {
				o.Problems = append(o.Problems, envelope.Problem{Field: e.Field, Code: envelope.CodeValidation, Message: e.Message})
			}
			outcomes = append(outcomes, o)
			continue
		}
		rc := envelope.Record{Row: r.Row, Fields: rec, Clear: emptied(columns, cells, rec)}
		if keyField == schema.AnyHandle {
			rc.Handles = s.Handles(rec)
			if len(rc.Handles) == 0 {
				outcomes = append(outcomes, envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{
					Code: envelope.CodeValidation, Message: fmt.Sprintf("no handle: a row needs at least one of %s", strings.Join(s.Keys, ", ")),
				}}})
				continue
			}
			rc.Key = rc.Handles[0] // the identity of a new record; the deduplicator may match an existing one
		} else {
			rc.Key = schema.Key(keyField, rec)
			rc.Handles = keyHandles(s, keyField, rec, rc.Key)
		}
		records = append(records, rc)
	}
	return records, outcomes
}

// keyHandles are the handles by which the deduplicator finds the record of
// a row of a schema with several key fields (schema.KeyHandles); none when
// they would not start with the row's key, the _id of a record it creates.
func keyHandles(s *schema.Schema, keyField string, rec map[string]any, key string) []string {
	hs := s.KeyHandles(keyField, rec)
	if len(hs) == 0 || hs[0] != key {
		return nil
	}
	return hs
}

func rowNumbers(ch *envelope.RowChunk) []int {
	rows := make([]int, len(ch.Rows))
	for i, r := range ch.Rows {
		rows[i] = r.Row
	}
	return rows
}

// deadLetter reports every row of a chunk the validator gave up on. A
// message whose rows cannot be read (not a row chunk, or one claiming
// another import than its subject) fails the import its subject names at
// once: its rows are unknown, so the import could never be complete, and
// its publisher must hear so now rather than at the unsealed-import timeout.
func deadLetter(m runner.Msg, reason string) []runner.Output {
	var ch envelope.RowChunk
	if err := json.Unmarshal(m.Data, &ch); err != nil || ch.Import == "" ||
		m.Subject != subjects.For(subjects.Rows, ch.Tenant, ch.Import) {
		return unreadable(m, reason)
	}
	o, err := platform.OutcomeOutput("dead-"+envelope.StageValidate, ch.Tenant, ch.Import, ch.Chunk,
		envelope.FailedRows(rowNumbers(&ch), envelope.CodeDeadLetter, "could not be validated: "+reason))
	if err != nil {
		return nil
	}
	return []runner.Output{o}
}

// unreadable is the accounting message failing the import that m's subject
// names, or nothing if the subject names none (it stays in the dead-letter
// stream only).
func unreadable(m runner.Msg, reason string) []runner.Output {
	tenant, importID, ok := subjects.ImportOf(subjects.Rows, m.Subject)
	if !ok {
		return nil
	}
	acc := envelope.Accounting{Kind: envelope.KindUnreadable, Tenant: tenant, Import: importID,
		Reason: fmt.Sprintf("a message of rows could not be read (stream sequence %d: %s)", m.StreamSeq, reason), At: time.Now().UTC()}
	o, err := platform.JSONOutput(subjects.For(subjects.Outcomes, tenant, importID),
		subjects.MsgID(tenant, importID, "unreadable", int(m.StreamSeq)), acc)
	if err != nil {
		return nil
	}
	return []runner.Output{o}
}

// emptied lists the fields whose cells are empty (and got no default).
func emptied(columns, cells []string, rec map[string]any) []string {
	var out []string
	for c, f := range columns {
		if f == "" || c >= len(cells) || strings.TrimSpace(cells[c]) != "" {
			continue
		}
		if _, ok := rec[f]; !ok {
			out = append(out, f)
		}
	}
	return out
}
