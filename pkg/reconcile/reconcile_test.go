package reconcile

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/intake/intake/pkg/envelope"
)

func TestIdentity(t *testing.T) {
	owners := map[string]string{"emails:a@x.io": "emails:a@x.io", "usernames:ann": "emails:a@x.io", "phone_numbers:+1": "emails:b@x.io"}
	for _, tc := range []struct {
		handles  []string
		id       string
		unowned  []string
		conflict bool
	}{
		{[]string{"emails:new@x.io", "usernames:new"}, "emails:new@x.io", []string{"emails:new@x.io", "usernames:new"}, false},
		{[]string{"emails:c@x.io", "usernames:ann"}, "emails:a@x.io", []string{"emails:c@x.io"}, false}, // matched by its second handle
		{[]string{"emails:a@x.io", "usernames:ann"}, "emails:a@x.io", nil, false},
		{[]string{"emails:a@x.io", "phone_numbers:+1"}, "", nil, true},
	} {
		id, unowned, conflict := Identity(tc.handles, owners)
		if id != tc.id || fmt.Sprint(unowned) != fmt.Sprint(tc.unowned) || (conflict != "") != tc.conflict {
			t.Errorf("Identity(%v) = %q %v %q", tc.handles, id, unowned, conflict)
		}
	}
}

func TestExistingRecord(t *testing.T) {
	this := Stamp{Import: "imp_2", Row: 5}
	before := Stamp{Import: "imp_1", Row: 9}
	stored := map[string]any{"email": "ann@x.io", "age": int64(40), "tags": []any{"a", "b"}, "phone": "+1"}
	const key = "email:ann@x.io"
	for _, tc := range []struct {
		name     string
		mode     string
		incoming map[string]any
		clear    []string
		e        *Existing
		want     Decision
	}{
		{"insert: fails, naming the key", envelope.ModeInsert, map[string]any{"age": int64(41)}, nil,
			&Existing{Fields: stored, Last: before, Created: before},
			Decision{Result: envelope.Failed, Code: envelope.CodeExists, Message: "a record with email ann@x.io already exists (insert mode does not change existing records)"}},
		{"the same values, typed differently: unchanged", envelope.ModeUpsert, map[string]any{"age": 40.0, "tags": []string{"a", "b"}}, nil,
			&Existing{Fields: stored, Last: before, Created: before},
			Decision{Result: envelope.Skipped, Code: envelope.CodeUnchanged, Message: "unchanged: the record already has these values"}},
		{"a changed and a new field are set, the rest left alone", envelope.ModeUpsert, map[string]any{"age": int64(41), "city": "Oslo", "email": "ann@x.io"}, nil,
			&Existing{Fields: stored, Last: before, Created: before},
			Decision{Result: envelope.Updated, Set: map[string]any{"age": int64(41), "city": "Oslo"}}},
		{"cleared cells unset only the fields stored", envelope.ModeUpdate, map[string]any{}, []string{"phone", "company"},
			&Existing{Fields: stored, Last: before, Created: before},
			Decision{Result: envelope.Updated, Set: map[string]any{}, Unset: []string{"phone"}}},
		{"clearing fields the record lacks: unchanged", envelope.ModeUpdate, map[string]any{}, []string{"company"},
			&Existing{Fields: stored, Last: before, Created: before},
			Decision{Result: envelope.Skipped, Code: envelope.CodeUnchanged, Message: "unchanged: the record already has these values"}},
		{"its own create, again: created, nothing written", envelope.ModeInsert, map[string]any{"age": int64(41)}, nil,
			&Existing{Fields: stored, Last: this, Created: this},
			Decision{Result: envelope.Created}},
		{"its own update, again: updated, nothing written", envelope.ModeReplace, map[string]any{"age": int64(41)}, nil,
			&Existing{Fields: stored, Last: this, Created: before},
			Decision{Result: envelope.Updated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExistingRecord(tc.mode, key, this, tc.incoming, tc.clear, tc.e); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRedeliveredAndMissing(t *testing.T) {
	this := Stamp{Import: "imp_2", Row: 5}
	if _, ok := Redelivered(this, nil); ok {
		t.Error("no record: not a redelivery")
	}
	if _, ok := Redelivered(this, &Existing{Last: Stamp{Import: "imp_2", Row: 4}, Created: this}); ok {
		t.Error("another row wrote it last: not a redelivery")
	}
	want := Decision{Result: envelope.Skipped, Code: envelope.CodeNotFound, Message: "no existing record with email ann@x.io (update mode does not create records)"}
	if got := Missing("email:ann@x.io"); !reflect.DeepEqual(got, want) {
		t.Errorf("Missing = %+v, want %+v", got, want)
	}
	if got := Missing("plainkey").Message; got != "no existing record with plainkey (update mode does not create records)" {
		t.Errorf("a key without a field: %q", got)
	}
}

func TestStampRoundTrip(t *testing.T) {
	for _, s := range []Stamp{{Import: "imp_5q2k8v3m1x", Row: 42}, {Import: "a/b", Row: 2}} {
		if got, ok := ParseStamp(s.String()); !ok || got != s {
			t.Errorf("ParseStamp(%q) = %+v, %v", s.String(), got, ok)
		}
	}
	for _, bad := range []string{"", "imp", "imp/", "imp/x", "imp/1.5"} {
		if got, ok := ParseStamp(bad); ok || got != (Stamp{}) {
			t.Errorf("ParseStamp(%q) = %+v, %v, want not ok", bad, got, ok)
		}
	}
}

// The import's key decides which record a row of a schema with several key
// fields belongs to; another record's value of another key field becomes
// shared, and fails no row.
func TestKeyIdentity(t *testing.T) {
	owners := map[string]Owner{
		"email:ann@x.io": {Record: "email:ann@x.io"},
		"phone:+1999":    {Record: "email:ann@x.io"},
		"email:bob@x.io": {Record: "phone:+1222"},
		"phone:+1222":    {Record: "phone:+1222"},
		"phone:+1333":    {Record: "email:cid@x.io", Shared: true},
	}
	for _, c := range []struct {
		name, want string
		handles    []string
	}{
		{"by phone, created under email", "email:ann@x.io unowned [] share []", []string{"phone:+1999"}},
		{"by phone, a new email becomes hers", "email:ann@x.io unowned [email:ann@y.io] share []", []string{"phone:+1999", "email:ann@y.io"}},
		{"by email, created under phone", "phone:+1222 unowned [] share []", []string{"email:bob@x.io", "phone:+1222"}},
		{"new: its own _id", "email:new@x.io unowned [email:new@x.io] share []", []string{"email:new@x.io"}},
		{"new with ann's phone: shared", "email:new@x.io unowned [email:new@x.io] share [phone:+1999]", []string{"email:new@x.io", "phone:+1999"}},
		{"a shared value checks nothing", "email:ann@x.io unowned [] share []", []string{"email:ann@x.io", "phone:+1333"}},
		{"found, with ann's phone: shared", "phone:+1222 unowned [] share [phone:+1999]", []string{"email:bob@x.io", "phone:+1999"}},
		{"a shared key", "conflict: phone +1333 belongs to several records: import these rows by another key", []string{"phone:+1333", "email:cid@x.io"}},
	} {
		id, unowned, share, conflict := KeyIdentity(c.handles, owners)
		got := fmt.Sprintf("%s unowned %v share %v", id, unowned, share)
		if conflict != "" {
			got = "conflict: " + conflict
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
