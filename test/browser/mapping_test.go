package browser

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserMappingStep: choosing a file shows the preview's mapping
// step (each column's suggested field, why, the missing fields and the
// first rows' problems); a column changed to "ignore" is what the upload
// sends as its mapping, before the file.
func TestBrowserMappingStep(t *testing.T) {
	ctx := browser(t)
	s := startSystem(t, nil)
	dir := t.TempDir()
	badPath := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badPath, []byte("name,email\nAnn,not-an-email\nBob,bob@x.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	google, err := filepath.Abs("../../pkg/mapping/testdata/google_contacts.csv")
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "open the page with the key", 30*time.Second,
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#upload-button")),
		chromedp.SendKeys(chromedp.CSS("#api-key"), adminKey),
		chromedp.Click(chromedp.CSS("#save-key")),
		poll(`document.querySelectorAll('#schema option').length > 1`),
	)

	step(t, ctx, "choose a file with a bad row", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{badPath}),
		poll(`!document.querySelector('#mapping-step').hidden && !document.querySelector('#preview-problems').hidden`),
	)
	problems := eval[[]string](t, ctx, `[...document.querySelectorAll('#preview-problems-body tr')].map(r => [...r.cells].map(c => c.textContent).join('|'))`)
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "2|email|validation|") {
		t.Errorf("problems shown = %q, want row 2's email", problems)
	}

	step(t, ctx, "choose a Google Contacts export", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{google}),
		poll(`(document.querySelector('select[data-column="E-mail 1 - Value"]') || {}).value === 'email'`),
	)
	if facts := text(t, ctx, "#preview-facts"); !strings.Contains(facts, "Google Contacts") || !strings.Contains(facts, "utf-8") {
		t.Errorf("facts = %q", facts)
	}
	why := eval[string](t, ctx, `document.querySelector('select[data-column="E-mail 1 - Value"]').closest('tr').cells[2].textContent`)
	if !strings.Contains(why, "Google Contacts") {
		t.Errorf("why E-mail 1 - Value = %q", why)
	}
	if ok := text(t, ctx, "#preview-rows-ok"); !strings.Contains(ok, "first 2 rows would import without problems") {
		t.Errorf("rows = %q", ok)
	}
	if got := eval[string](t, ctx, `document.querySelector('select[data-column="Organization Name"]').value`); got != "company" {
		t.Fatalf("Organization Name suggested as %q, want company", got)
	}
	step(t, ctx, "ignore the organization column", 30*time.Second,
		chromedp.Evaluate[chromedp.Void](`(() => {
			const s = document.querySelector('select[data-column="Organization Name"]');
			s.value = '';
			s.dispatchEvent(new Event('change'));
		})()`),
		poll(`document.querySelector('select[data-column="Organization Name"]').closest('tr').cells[2].textContent.includes('your choice')`),
	)

	// Record the fields the upload sends, then import.
	eval[bool](t, ctx, `(() => {
		window.__sent = [];
		const send = XMLHttpRequest.prototype.send;
		XMLHttpRequest.prototype.send = function (body) {
			if (body instanceof FormData) window.__sent.push(Object.fromEntries([...body.entries()].filter(e => typeof e[1] === 'string')));
			return send.call(this, body);
		};
		return true;
	})()`)
	step(t, ctx, "import", 2*time.Minute,
		chromedp.Click(chromedp.CSS("#upload-button")),
		// Answered: a summary, or a message if the upload refuses the file.
		poll(`(!document.querySelector('#summary').hidden && document.querySelector('#summary-status').textContent !== '') || !document.querySelector('#message').hidden`),
	)
	sent := eval[[]map[string]string](t, ctx, "window.__sent")
	if len(sent) != 1 || sent[0]["mapping"] != `{"Organization Name":null}` || sent[0]["schema"] != "contacts" {
		t.Fatalf("the upload sent %v, want the mapping {\"Organization Name\":null}", sent)
	}
	// The upload used the mapping: the Google rows imported, the ignored
	// column left out, and the summary says how the columns were mapped.
	step(t, ctx, "see the import completed", 2*time.Minute,
		poll(`document.querySelector('#summary-status').textContent === 'completed'`))
	id := text(t, ctx, "#summary-id")
	v := s.summary(id)
	if v.Created != 2 || v.Failed != 0 || v.Mapping == nil || v.Mapping.Export != "Google Contacts" {
		t.Fatalf("summary %+v, want 2 created with the Google Contacts mapping", v)
	}
	for _, c := range v.Mapping.Columns {
		if c.Column == "Organization Name" && (c.Field != "" || c.Note != "ignored by the mapping") {
			t.Errorf("Organization Name mapped as %+v, want ignored by the mapping", c)
		}
	}
	screenshot(t, ctx, "mapping-step.png")
}
