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
