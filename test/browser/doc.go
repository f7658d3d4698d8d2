// Package browser holds end-to-end tests of Intake's web edge: the
// events stream (GET /v1/imports/{id}/events) over HTTP against the whole
// system, and the upload page driven in headless Chromium through the
// Chrome DevTools Protocol. The browser test runs only with
// INTAKE_BROWSER_TEST=1 (make test-browser); it needs /usr/bin/chromium
// (or INTAKE_CHROMIUM).
package browser
