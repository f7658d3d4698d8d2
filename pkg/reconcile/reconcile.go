// Package reconcile decides what a row does to an existing record in each
// import mode. It is pure: the writer reads, asks, and writes.
package reconcile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/schema"
)

// Stamp names the import and row that wrote a record.
type Stamp struct {
	Import string
	Row    int
}

// String is a stamp as one text, "imp_5q2k8v3m1x/42", the form records
// stored by earlier versions carry (the store now keeps import and row apart).
func (s Stamp) String() string { return s.Import + "/" + strconv.Itoa(s.Row) }

// ParseStamp reads a stored stamp (String); ok is false for anything else,
// and the stamp is then the zero one.
func ParseStamp(text string) (s Stamp, ok bool) {
	i := strings.LastIndexByte(text, '/')
	if i < 0 {
		return Stamp{}, false
	}
	row, err := strconv.Atoi(text[i+1:])
	if err != nil {
		return Stamp{}, false
	}
	return Stamp{Import: text[:i], Row: row}, true
}

// Existing is what the database holds for a key.
type Existing struct {
	Fields  map[string]any
	Last    Stamp // the import and row that last wrote the record
	Created Stamp // the import and row that created it
}

// Decision is what to do with one row and how to report it.
type Decision struct {
	Result  string         // created, updated, skipped or failed
	Code    string         // why, for programs (envelope.Code*)
	Message string         // why, for people
	Set     map[string]any // fields to write; nil (and no Unset) means no write
	Unset   []string       // fields to remove (empty cells, when the import asks for that)
}

// Redelivered reports whether the record already carries this row's write,
// i.e. the chunk is being processed again after a crash. The outcome must
// then be what the first delivery reported.
func Redelivered(this Stamp, e *Existing) (Decision, bool) {
	if e == nil || e.Last != this {
		return Decision{}, false
	}
	if e.Created == this {
		return Decision{Result: envelope.Created}, true
	}
	return Decision{Result: envelope.Updated}, true
}

// Existing decides for a row whose key is already stored (by another row or
// import). key is shown in messages.
//
// clear names fields whose cells were empty in an import that asked for
// empty cells to clear the stored value.
func ExistingRecord(mode, key string, this Stamp, incoming map[string]any, clear []string, e *Existing) Decision {
	if d, ok := Redelivered(this, e); ok {
		return d
	}
	if mode == envelope.ModeInsert {
		return Decision{Result: envelope.Failed, Code: envelope.CodeExists, Message: fmt.Sprintf("a record with %s already exists (insert mode does not change existing records)", showKey(key))}
	}
	set := map[string]any{}
	for f, v := range incoming {
		if old, ok := e.Fields[f]; !ok || !schema.Equal(old, v) {
			set[f] = v
		}
	}
	var unset []string
	for _, f := range clear {
		if _, ok := e.Fields[f]; ok {
			unset = append(unset, f)
		}
	}
	if len(set) == 0 && len(unset) == 0 {
		return Decision{Result: envelope.Skipped, Code: envelope.CodeUnchanged, Message: "unchanged: the record already has these values"}
	}
	return Decision{Result: envelope.Updated, Set: set, Unset: unset}
}

// Missing decides for a row whose key is not stored, in update mode (the
// other modes create the record).
func Missing(key string) Decision {
	return Decision{Result: envelope.Skipped, Code: envelope.CodeNotFound, Message: fmt.Sprintf("no existing record with %s (update mode does not create records)", showKey(key))}
}

func showKey(key string) string {
	f, v, ok := strings.Cut(key, ":")
	if !ok {
		return key
	}
	return f + " " + v
}

// Identity decides which record a row of a match-any import (persons:
// matched on any handle) belongs to. owners maps the handles already known
// to the record that has them. The row belongs to the one record owning
// any of its handles, or, if none does, to a new record identified by its
// first handle; unowned are the handles to record as the row's record's.
// A row whose handles are owned by two records fails: conflict says why.
func Identity(handles []string, owners map[string]string) (id string, unowned []string, conflict string) {
	first := map[string]string{} // owner -> the first of the row's handles it owns
	var order []string
	for _, h := range handles {
		o, ok := owners[h]
		if !ok {
			unowned = append(unowned, h)
			continue
		}
		if _, seen := first[o]; !seen {
			first[o] = h
			order = append(order, o)
		}
	}
	switch len(order) {
	case 0:
		return handles[0], unowned, ""
	case 1:
		return order[0], unowned, ""
	}
	return "", nil, fmt.Sprintf("the handles belong to different records: %s to the record of %s, %s to the record of %s",
		showKey(first[order[0]]), showKey(order[0]), showKey(first[order[1]]), showKey(order[1]))
}

// Owner is the record a handle belongs to. A Shared handle is a value two
// records have (two people with one phone): it finds neither.
type Owner struct {
	Record string
	Shared bool
}

// KeyIdentity decides which record a row of an import by a key field of a
// schema with several key fields belongs to. handles are the row's values
// of its key fields, the import key's first; owners the records owning
// those already known. The import's key decides: the record owning its
// value, whichever key that record was created under, or, if none does, a
// new record identified by it. The other key fields never fail a row: one
// belonging to another record becomes shared (two records have it now),
// whether the row found a record or creates one. So the answer is the one
// the deduplicator gives without any index while every record was created
// under the import's key, where it sees no other field at all. A key value
// two records share fails the row (conflict says why). unowned are the
// handles to record as the row's record's; share those to mark shared.
func KeyIdentity(handles []string, owners map[string]Owner) (id string, unowned, share []string, conflict string) {
	key := handles[0]
	o, found := owners[key]
	switch {
	case found && o.Shared:
		return "", nil, nil, fmt.Sprintf("%s belongs to several records: import these rows by another key", showKey(key))
	case found:
		id = o.Record
	default:
		id = key
	}
	for _, h := range handles {
		o, ok := owners[h]
		switch {
		case !ok:
			unowned = append(unowned, h)
		case o.Shared || o.Record == id:
		default:
			share = append(share, h)
		}
	}
	return id, unowned, share, ""
}
