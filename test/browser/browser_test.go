package browser

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intake/intake/pkg/templates"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/intake/app"
)

// browser starts headless Chromium for a test (skipped unless
// INTAKE_BROWSER_TEST=1) and returns a tab's context. Uncaught JavaScript
// exceptions fail the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if os.Getenv("INTAKE_BROWSER_TEST") != "1" {
		t.Skip("browser test: set INTAKE_BROWSER_TEST=1 (make test-browser); needs /usr/bin/chromium")
	}
	exe := os.Getenv("INTAKE_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("INTAKE_BROWSER_TEST=1 but no Chromium at %s (apt-get install -y chromium, or set INTAKE_CHROMIUM): %v", exe, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var exceptions []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range exceptions {
			t.Errorf("uncaught JavaScript exception: %s", e)
		}
	})
	return ctx
}

// poll waits until the JavaScript expression expr is true in the page.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond))
}

// step runs actions with a time limit, failing the test with what on error.
func step(t *testing.T, ctx context.Context, what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// number reads a count the page shows ("1,880").
func number(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	s := text(t, ctx, sel)
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatalf("%s shows %q, not a number", sel, s)
	}
	return n
}

// TestBrowserImport drives the upload page the way a person would: key,
// file, options, upload, progress, summary, row errors, recent imports.
func TestBrowserImport(t *testing.T) {
	ctx := browser(t)
	s := startSystem(t, func(c *app.Config) { c.ChunkSize = 200 })
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(csvPath, contactsCSV(2000), 0o600); err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(dir, "nonsense.csv")
	if err := os.WriteFile(badPath, []byte("Colour,Shape\nred,round\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	step(t, ctx, "open the page", 30*time.Second,
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#upload-button")),
	)
	if title := eval[string](t, ctx, "document.title"); !strings.Contains(title, "Intake") {
		t.Errorf("title = %q", title)
	}
	// Without a key the API refuses; the page says so.
	step(t, ctx, "see that a key is needed", 15*time.Second,
		chromedp.Poll[chromedp.Void](`document.querySelector('#key-status').textContent.includes('401')`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	screenshot(t, ctx, "start.png")
	step(t, ctx, "enter the API key", 15*time.Second,
		chromedp.SendKeys(chromedp.CSS("#api-key"), adminKey),
		chromedp.Click(chromedp.CSS("#save-key")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#schema option').length > 1 && document.querySelector('#key-options option') !== null`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	if stored := eval[string](t, ctx, "localStorage.getItem('intake.apiKey')"); stored != adminKey {
		t.Errorf("stored key = %q", stored)
	}
	if schemas := eval[[]string](t, ctx, "[...document.querySelectorAll('#schema option')].map(o => o.value)"); !contains(schemas, "contacts") || !contains(schemas, "customers") {
		t.Errorf("schemas offered = %v", schemas)
	}

	// A file the API refuses: its error text is shown.
	step(t, ctx, "upload a file with an unknown header", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{badPath}),
		// As a person would: the page has taken the file before the click
		// (choosing a file clears the message the upload would show).
		chromedp.Poll[chromedp.Void](`document.querySelector('#file-name').textContent.startsWith('nonsense.csv')`, chromedp.WithPollingInterval(50*time.Millisecond)),
		chromedp.Click(chromedp.CSS("#upload-button")),
		chromedp.Poll[chromedp.Void](`!document.querySelector('#message').hidden && document.querySelector('#message').textContent.includes('HTTP 400')`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	if msg := text(t, ctx, "#message"); !strings.Contains(msg, "header") {
		t.Errorf("message for a bad header = %q, want the API's error", msg)
	}

	// The real import. Record what the progress line says on the way.
	eval[bool](t, ctx, `(() => {
		window.__progress = [];
		window.__progressInView = [];
		const p = document.querySelector('#progress-text');
		const card = document.querySelector('#progress');
		new MutationObserver(() => {
			window.__progress.push(p.textContent);
			const r = card.getBoundingClientRect();
			if (!card.hidden) window.__progressInView.push(r.top >= 0 && r.top < window.innerHeight);
		}).observe(p, {childList: true, characterData: true, subtree: true});
		return true;
	})()`)
	step(t, ctx, "upload 2,000 contacts", 2*time.Minute,
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{csvPath}),
		chromedp.Poll[chromedp.Void](`document.querySelector('#file-name').textContent.startsWith('contacts.csv')`, chromedp.WithPollingInterval(50*time.Millisecond)),
		chromedp.SetValue(chromedp.CSS("#mode"), "upsert"),
		chromedp.Click(chromedp.CSS("#upload-button")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#summary-status').textContent === 'completed' && !document.querySelector('#summary').hidden`,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute)),
	)
	if msg := eval[bool](t, ctx, "document.querySelector('#message').hidden"); !msg {
		t.Errorf("a message is still shown after a good upload: %q", text(t, ctx, "#message"))
	}
	id := text(t, ctx, "#summary-id")
	api := s.summary(id)
	shown := map[string]int{}
	for _, k := range []string{"total", "created", "updated", "skipped", "failed"} {
		shown[k] = number(t, ctx, "#sum-"+k)
	}
	want := map[string]int{"total": api.Total, "created": api.Created, "updated": api.Updated, "skipped": api.Skipped, "failed": api.Failed}
	if fmt.Sprint(shown) != fmt.Sprint(want) {
		t.Errorf("the page shows %v, the API says %v", shown, want)
	}
	if api.Total != 2000 || api.Failed != 50 {
		t.Errorf("API summary = %+v", api)
	}
	// The progress bar was fed by the events stream, ended at every row,
	// and gave way to the summary.
	seen := eval[[]string](t, ctx, "window.__progress")
	if !anyHas(seen, " of 2,000 rows") || !anyHas(seen, "2,000 of 2,000 rows · 100%") {
		t.Errorf("progress lines seen = %q", seen)
	}
	t.Logf("progress lines: %q", seen)
	for _, k := range []string{"created", "updated", "skipped", "failed"} {
		if live := number(t, ctx, "#live-"+k); live != shown[k] {
			t.Errorf("live %s = %d, summary %d", k, live, shown[k])
		}
	}
	if bar := eval[[]float64](t, ctx, "[document.querySelector('#progress-bar').value, document.querySelector('#progress-bar').max]"); bar[0] != 2000 || bar[1] != 2000 {
		t.Errorf("progress bar = %v, want 2000 of 2000", bar)
	}
	if !eval[bool](t, ctx, "document.querySelector('#progress').hidden") {
		t.Errorf("the progress section is still shown after the summary")
	}
	// At 1280x900 the progress card starts below the fold: the page
	// scrolls to it, and then to the summary.
	if inView := eval[[]bool](t, ctx, "window.__progressInView"); !slices.Contains(inView, true) {
		t.Errorf("the progress card was not scrolled into view (in view at each progress line: %v)", inView)
	}
	step(t, ctx, "see the summary without scrolling", 10*time.Second,
		chromedp.Poll[chromedp.Void](`(() => { const r = document.querySelector('#summary').getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight; })()`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)

	// Row errors: 50 failed rows, 50 to a page.
	step(t, ctx, "see the row errors", 15*time.Second,
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#errors-body tr').length > 0`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	rows := eval[int](t, ctx, "document.querySelectorAll('#errors-body tr').length")
	if rows != 50 {
		t.Errorf("errors table shows %d rows, want 50", rows)
	}
	if code := text(t, ctx, "#errors-body tr td:nth-child(3)"); code != "validation" {
		t.Errorf("first row error's code = %q, want validation", code)
	}
	if first := text(t, ctx, "#errors-body tr td:nth-child(4)"); !strings.Contains(first, "person40@") {
		t.Errorf("first row error = %q", first)
	}
	// The skipped rows' reasons, 70 of them: two pages.
	step(t, ctx, "show skipped rows", 15*time.Second,
		chromedp.Click(chromedp.CSS("label[for=show-skipped]")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#errors-page').textContent.includes('of 70')`, chromedp.WithPollingInterval(100*time.Millisecond)),
		chromedp.Click(chromedp.CSS("#errors-next")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#errors-body tr').length === 20`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	if page := text(t, ctx, "#errors-page"); !strings.HasPrefix(page, "Page 2 of 2") {
		t.Errorf("pager = %q", page)
	}
	step(t, ctx, "back to failed rows", 15*time.Second,
		chromedp.Click(chromedp.CSS("label[for=show-failed]")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#errors-page').textContent.includes('of 50')`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)

	// The failed rows as uploaded, for fixing: a link to the import's
	// failed.csv, whose file holds the header and the 50 failed rows.
	link := eval[[]string](t, ctx, `(() => { const a = document.querySelector('#download-failed-rows'); return [String(a.hidden), a.getAttribute('href'), a.textContent]; })()`)
	if link[0] != "false" || link[1] != "/v1/imports/"+id+"/failed.csv" || !strings.Contains(link[2], "failed rows") {
		t.Errorf("failed-rows link = %q, want it shown, to /v1/imports/%s/failed.csv", link, id)
	}
	resp := s.request(http.MethodGet, link[1], adminKey, nil, "")
	failedFile, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if lines := strings.Split(strings.TrimSpace(string(failedFile)), "\r\n"); resp.StatusCode != 200 || len(lines) != 51 || !strings.HasSuffix(lines[0], ",intake_reasons") {
		t.Errorf("the link's file: %d, %d lines, header %q", resp.StatusCode, len(lines), lines[0])
	}
	// The page fetches it with the key (the file goes nowhere in headless mode).
	step(t, ctx, "click download failed rows", 10*time.Second, chromedp.Click(chromedp.CSS("#download-failed-rows")))

	// The CSV download is built in the page from the errors, formulas neutralised.
	csv := eval[string](t, ctx, `IntakeUI.errorsCSV([{row: 2, field: 'email', code: 'validation', message: "=HYPERLINK(\"x\")"}, {row: 3, field: '', message: 'a, b'}])`)
	if csv != "row,field,code,message\r\n2,email,validation,\"'=HYPERLINK(\"\"x\"\")\"\r\n3,,,\"a, b\"\r\n" {
		t.Errorf("errors CSV = %q", csv)
	}
	for _, c := range []string{"=1+2", "+1", "-5", "+3.25", "-1,234.5", "1e-3", "+44 20 7946 0958", "+1 (415) 555-2671", "+123",
		"-cmd", "@SUM(A1)", "\tx", "\rx", "＝1", "＋1", "－1", "＠x", "plain", "", "+1234567890123456789012", "-1.2.3"} {
		if got := eval[string](t, ctx, "IntakeUI.safeCell("+strconv.Quote(c)+")"); got != templates.SafeCell(c) {
			t.Errorf("safeCell(%q) = %q in the page, %q in Go", c, got, templates.SafeCell(c))
		}
	}
	// The download button works (the file goes nowhere in headless mode).
	step(t, ctx, "click download", 10*time.Second, chromedp.Click(chromedp.CSS("#download-errors")))

	// Recent imports list it; clicking shows its summary.
	step(t, ctx, "see the import in the recent list", 15*time.Second,
		chromedp.Poll[chromedp.Void](`document.querySelector('#recent-body button[data-id="`+id+`"]') !== null`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	screenshot(t, ctx, "after-import.png")

	other := s.upload(contactsCSV(30), map[string]string{"mode": "insert"})
	if v := s.summary(other); v.ID != other {
		t.Fatalf("second import: %+v", v)
	}
	step(t, ctx, "open an import from the recent list", 60*time.Second,
		chromedp.Click(chromedp.CSS("#refresh-imports")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#recent-body button[data-id="`+other+`"]') !== null`, chromedp.WithPollingInterval(100*time.Millisecond)),
		chromedp.Click(chromedp.CSS(`#recent-body button[data-id="`+other+`"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#summary-id').textContent === '`+other+`' && document.querySelector('#summary-status').textContent === 'completed'`,
			chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	final := s.summary(other)
	if got := number(t, ctx, "#sum-created") + number(t, ctx, "#sum-failed"); got != final.Created+final.Failed || number(t, ctx, "#sum-total") != 30 {
		t.Errorf("clicked import shows created+failed %d, total %d; API %+v", got, number(t, ctx, "#sum-total"), final)
	}
	if mode := text(t, ctx, "#summary-mode"); mode != "insert" {
		t.Errorf("clicked import's mode = %q", mode)
	}
}

// screenshot saves a full-page PNG to a temp file (and to
// $INTAKE_SCREENSHOT_DIR when set) and checks it is a PNG.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	path := testenv.WriteFile(t, name, png)
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot file %s: %v", path, err)
	}
	if dir := os.Getenv("INTAKE_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}
	t.Logf("screenshot: %d bytes", len(png))
}

func anyHas(list []string, sub string) bool {
	for _, x := range list {
		if strings.Contains(x, sub) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
