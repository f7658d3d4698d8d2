package reconcile

import (
	"fmt"
	"testing"
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
