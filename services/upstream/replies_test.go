package upstream

import "testing"

func TestReplyAllowed(t *testing.T) {
	for _, c := range []struct {
		tenant, reply string
		want          bool
	}{
		{"acme", "", true},
		{"acme", "_INBOX.acme.xyz", true},
		{"acme", "_INBOX.acme.xyz.1", true},
		{"acme", "_R_.9C8Net.kyYcal", true},
		{"acme", "_INBOX.acme", false},
		{"acme", "_INBOX.acme.", false},
		{"acme", "_INBOX.acmecorp.xyz", false},
		{"acme", "_INBOX.globex.xyz", false},
		{"acme", "_INBOX.xyz", false},
		{"acme", "$KV.INTAKE_IDEMPOTENCY.globex.a2V5", false},
		{"acme", "intake.rows.globex.imp_1", false},
		{"acme", "intake.outcomes.acme.imp_1", false},
		{"acme", "_INBOX.acme.>", false},
		{"acme", "_INBOX.acme..x", false},
		{"acme", "_R_.", false},
		{"acme", "x._INBOX.acme.y", false},
	} {
		if got := replyAllowed(c.tenant, c.reply); got != c.want {
			t.Errorf("replyAllowed(%q, %q) = %v, want %v", c.tenant, c.reply, got, c.want)
		}
	}
}
