package browser

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intake/intake/pkg/testenv"
)

var errStillProcessing = errors.New("the import is still processing")

// TestBrowserUndo: a finished import's summary offers Undo; after the
// confirmation the page follows the undo to its end and shows what it
// reversed, and the import, opened again, says it was undone and offers
// Undo no more.
func TestBrowserUndo(t *testing.T) {
	ctx := browser(t)
	s := startSystem(t, nil)
	id := s.upload([]byte("name,email\nAnn,ann@x.example\nBob,bob@x.example\n"), map[string]string{"mode": "upsert"})
	testenv.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if s.summary(id).Status == "processing" {
			return errStillProcessing
		}
		return nil
	})
	step(t, ctx, "open the import from the recent list", 30*time.Second,
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#upload-button")),
		chromedp.SendKeys(chromedp.CSS("#api-key"), adminKey),
		chromedp.Click(chromedp.CSS("#save-key")),
		chromedp.WaitVisible(chromedp.CSS(`#recent-body button[data-id="`+id+`"]`)),
		chromedp.Click(chromedp.CSS(`#recent-body button[data-id="`+id+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#undo-button")),
	)
	step(t, ctx, "undo it, confirming", 60*time.Second,
		chromedp.Evaluate[chromedp.Void](`window.__asked = ''; window.confirm = (q) => { window.__asked = q; return true; }`),
		chromedp.Click(chromedp.CSS("#undo-button")),
		poll(`document.querySelector('#summary-headline').textContent.startsWith('Undo of ')`),
	)
	if asked := eval[string](t, ctx, `window.__asked`); !strings.Contains(asked, id) {
		t.Errorf("the confirmation asked %q, want it to name %s", asked, id)
	}
	if got := text(t, ctx, "#summary-headline"); !strings.Contains(got, "2 records reversed, 0 kept") {
		t.Errorf("undo headline = %q", got)
	}
	if eval[bool](t, ctx, `!document.querySelector('#undo-button').hidden`) {
		t.Error("an undo offers Undo")
	}
	step(t, ctx, "open the import again", 30*time.Second,
		chromedp.Click(chromedp.CSS("#refresh-imports")),
		poll(`!!document.querySelector('#recent-body button[data-id="`+id+`"]')`),
		chromedp.Click(chromedp.CSS(`#recent-body button[data-id="`+id+`"]`)),
		poll(`document.querySelector('#summary-id').textContent === '`+id+`' && !document.querySelector('#undo-note').hidden`),
	)
	if note := text(t, ctx, "#undo-note"); !strings.HasPrefix(note, "Undone by imp_") {
		t.Errorf("undo note = %q", note)
	}
	if eval[bool](t, ctx, `!document.querySelector('#undo-button').hidden`) {
		t.Error("an undone import still offers Undo")
	}
}
