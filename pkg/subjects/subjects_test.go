package subjects

import "testing"

func TestImportOf(t *testing.T) {
	for _, tc := range []struct {
		subject         string
		tenant, import_ string
		ok              bool
	}{
		{"intake.rows.acme.imp_1", "acme", "imp_1", true},
		{"intake.rows.acme", "", "", false},
		{"intake.rows.acme.imp_1.extra", "", "", false},
		{"intake.valid.acme.imp_1", "", "", false},
		{"intake.rows..imp_1", "", "", false},
		{"intake.rows.acme.", "", "", false},
	} {
		tenant, imp, ok := ImportOf(Rows, tc.subject)
		if tenant != tc.tenant || imp != tc.import_ || ok != tc.ok {
			t.Errorf("ImportOf(%q) = %q %q %v, want %q %q %v", tc.subject, tenant, imp, ok, tc.tenant, tc.import_, tc.ok)
		}
	}
}

// Handlers and dead letters see the subject a message was published on.
func TestUnpartitioned(t *testing.T) {
	for in, want := range map[string]string{
		"intake.valid.3.acme.imp_1":    "intake.valid.acme.imp_1",
		"intake.outcomes.12.7.imp_1":   "intake.outcomes.7.imp_1",
		"intake.valid.acme.imp_1":      "intake.valid.acme.imp_1",
		"intake.rows.acme.imp_1":       "intake.rows.acme.imp_1",
		"intake.valid.x.acme.imp_1":    "intake.valid.x.acme.imp_1",
		"intake.dead.write.intake.a.b": "intake.dead.write.intake.a.b",
	} {
		if got := Unpartitioned(in); got != want {
			t.Errorf("Unpartitioned(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartitionsOfReadsTheTransformBack(t *testing.T) {
	for _, stage := range []string{Rows, Valid, Unique, Outcomes} {
		for _, n := range []int{1, 16, 256} {
			if _, dst := PartitionTransform(stage, n); PartitionsOf(dst) != n {
				t.Errorf("PartitionsOf(%q) = %d, want %d", dst, PartitionsOf(dst), n)
			}
		}
	}
	if got := PartitionsOf("intake.rows.>"); got != 0 {
		t.Errorf("PartitionsOf of no transform = %d, want 0", got)
	}
}
