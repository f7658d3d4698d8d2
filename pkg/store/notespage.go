package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

// NotePos is a place in an import's row notes: a chunk, then a row in it.
// Chunks hold consecutive rows, so (chunk, row) order is row order.
type NotePos struct {
	Chunk int
	Row   int
}

// NotedRow is one noted row and the chunk whose notes hold it.
type NotedRow struct {
	Chunk int
	envelope.Outcome
}

// RowNotesFrom returns up to limit noted rows of an import with result
// (every result when empty), in row order, starting at from (inclusive),
// and whether more follow. It reads only the documents of the chunks it
// needs, one chunk at a time, each document by _id equality (which
// FerretDB answers from its index, unlike $in, which it answers with a
// scan of the collection: a page of 1,000 of 12,000 failed rows took 4.1 s
// with $in and 0.19 s so, TestFailedRowsScale on a shared 2-core machine):
// a page costs what it holds, however large the import. Documents are
// written once per chunk and stage, so a position stays valid while the
// import is still running.
func (s *Store) RowNotesFrom(ctx context.Context, sum *ledger.Summary, result string, from NotePos, limit int) ([]NotedRow, bool, error) {
	c, err := s.coll(ctx, s.Meta, rowsColl)
	if err != nil {
		return nil, false, err
	}
	docs := notedDocs(sum, from.Chunk)
	var out []NotedRow
	for len(docs) > 0 && len(out) <= limit {
		n := 1
		for n < len(docs) && docs[n].chunk == docs[0].chunk {
			n++ // a chunk's stages are read together, to merge them by row
		}
		read := make([]storedRowDoc, 0, n)
		for _, d := range docs[:n] {
			var doc storedRowDoc
			found, err := findByID(ctx, c, d.id, &doc)
			if err != nil {
				return nil, false, err
			}
			if found {
				read = append(read, doc)
			}
		}
		rows, err := notedRowsOf(docs[:n], read, result, from)
		if err != nil {
			return nil, false, err
		}
		out = append(out, rows...)
		docs = docs[n:]
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// notedDoc is a row-notes document an import's summary names.
type notedDoc struct {
	id    string
	chunk int
}

// notedDocs lists the row-notes documents of the chunks from chunk on, in
// chunk order: the summary's bitsets, and the id list of summaries of
// earlier versions (whose ids end in the chunk number).
func notedDocs(sum *ledger.Summary, from int) []notedDoc {
	var docs []notedDoc
	add := func(id string, chunk int) {
		if chunk >= from {
			docs = append(docs, notedDoc{id: id, chunk: chunk})
		}
	}
	for _, id := range sum.RowDocs {
		chunk, _ := strconv.Atoi(id[strings.LastIndexByte(id, ':')+1:])
		add(id, chunk)
	}
	sum.NotedChunks(func(stage string, chunk int) { add(RowDocID(sum.ID, stage, chunk), chunk) })
	sort.Slice(docs, func(i, j int) bool {
		if docs[i].chunk != docs[j].chunk {
			return docs[i].chunk < docs[j].chunk
		}
		return docs[i].id < docs[j].id
	})
	return slices.CompactFunc(docs, func(a, b notedDoc) bool { return a.id == b.id })
}

// notedRowsOf is the rows with result at or after from of a batch of
// documents read (missing ones are skipped), in (chunk, row) order.
func notedRowsOf(batch []notedDoc, read []storedRowDoc, result string, from NotePos) ([]NotedRow, error) {
	byID := make(map[string]storedRowDoc, len(read))
	for _, d := range read {
		byID[d.ID] = d
	}
	var out []NotedRow
	for _, nd := range batch {
		d, ok := byID[nd.id]
		if !ok {
			continue
		}
		rows, err := d.outcomes()
		if err != nil {
			return nil, fmt.Errorf("row notes %s: %w", nd.id, err)
		}
		for _, o := range rows {
			if (result == "" || o.Result == result) && (nd.chunk > from.Chunk || o.Row >= from.Row) {
				out = append(out, NotedRow{Chunk: nd.chunk, Outcome: o})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Chunk != out[j].Chunk {
			return out[i].Chunk < out[j].Chunk
		}
		return out[i].Row < out[j].Row
	})
	return out, nil
}
