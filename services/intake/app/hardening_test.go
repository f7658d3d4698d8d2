package app_test

// Service hardening: the HTTP server's timeouts and header limit, the upload
// size limit, multipart abuse, temporary files of aborted uploads, and
// secrets in logs and answers.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/xuri/excelize/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// ingest.Serve cuts off a client that sends its headers too slowly
// (ReadHeaderTimeout, 10 s) and refuses headers over net/http's 1 MB
// default. It sets no ReadTimeout or WriteTimeout on purpose: an upload of
// a large file takes minutes and GET ?wait= holds its answer up to a
// minute; a stalled body is bounded by ingest.IdleBody (slowbody.go).
func TestHTTPServerTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 10 s header timeout")
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) })
	go func() {
		done <- ingest.Serve(ctx, "127.0.0.1:0", h, time.Second, func(a string) { addrc <- a }, zap.NewNop())
	}()
	addr := <-addrc
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	// Two slow-loris clients: one stops in the middle of its headers, one
	// keeps sending a header byte every half second. Both are cut off; the
	// server answers others meanwhile.
	type cut struct {
		name string
		err  error
		got  string
	}
	cuts := make(chan cut, 2)
	slow := func(name string, trickle bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			cuts <- cut{name, err, ""}
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		if trickle {
			go func() {
				for i := 0; i < 120; i++ {
					if _, err := io.WriteString(c, "X"); err != nil {
						return
					}
					time.Sleep(500 * time.Millisecond)
				}
			}()
		}
		_ = c.SetReadDeadline(time.Now().Add(45 * time.Second))
		got, err := io.ReadAll(c)
		cuts <- cut{name, err, string(got)}
	}
	go slow("stalled headers", false)
	go slow("trickled headers", true)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a normal request beside the slow ones: %v %v", err, resp)
	}
	resp.Body.Close()
	for range 2 {
		c := <-cuts
		// The server closed the connection (EOF, nothing or an error
		// status written), rather than our 45 s read deadline firing.
		if ne, ok := c.err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: the server kept the connection open", c.name)
		} else if strings.Contains(c.got, "200 OK") {
			t.Errorf("%s: answered %q", c.name, c.got)
		}
	}

	// Headers over 1 MB: 431.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("b", 2<<20))
	}()
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, "431") {
		t.Errorf("2 MB of headers answered %q, want 431", line)
	}
}

// --max-upload-bytes: 413, whether the limit is hit in the form fields, in
// an XLSX being spooled, or in the rows of a CSV (whose rows before the
// limit are imported, the import ending failed with the reason).
func TestUploadSizeLimit(t *testing.T) {
	dataDir, tmp := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := startSystem(t, dataDir, func(c *app.Config) { c.MaxUploadBytes = 256 << 10 })

	var csvFile bytes.Buffer
	csvFile.WriteString("name,email\n")
	for i := 0; csvFile.Len() < 1<<20; i++ {
		fmt.Fprintf(&csvFile, "Size %d,size%d@limit.test\n", i, i)
	}
	status, out := s.upload(csvFile.Bytes(), nil)
	if status != 413 || !strings.Contains(fmt.Sprint(out["error"]), "larger than the limit of 262144 bytes") {
		t.Fatalf("1 MB CSV: %d %v", status, out)
	}
	v := s.waitDone(out["import_id"].(string), time.Minute)
	if v.Status != "failed" || v.Total == 0 || v.Processed != v.Total || !strings.Contains(v.Reason, "larger than the limit") {
		t.Fatalf("the import cut at the limit: %+v", v)
	}

	status, out = s.upload(randomXLSX(t, 1<<20), nil)
	if status != 413 || out["import_id"] != nil {
		t.Fatalf("1 MB XLSX: %d %v", status, out)
	}

	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("left in the temporary directory: %v", left)
	}

	t.Run("form fields over the limit", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for i := 0; i < 10000; i++ {
			_ = mw.WriteField(fmt.Sprintf("junk%d", i), "x")
		}
		fw, _ := mw.CreateFormFile("file", "f.csv")
		_, _ = fw.Write([]byte("name,email\nA,a@limit.test\n"))
		_ = mw.Close()
		status, out := s.call("POST", "/v1/imports", nil, &body, mw.FormDataContentType())
		if status != 413 || out["import_id"] != nil {
			t.Fatalf("10,000 form fields over the limit: %d %v", status, out)
		}
	})
}

// randomXLSX is a workbook of about size bytes that does not compress.
func randomXLSX(t *testing.T, size int) []byte {
	f := excelize.NewFile()
	defer f.Close()
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"name", "email"})
	for i := 2; i < 2+size/2000; i++ {
		b := make([]byte, 1500)
		_, _ = rand.Read(b)
		cell, _ := excelize.CoordinatesToCellName(1, i)
		_ = f.SetSheetRow("Sheet1", cell, &[]any{base64.StdEncoding.EncodeToString(b), fmt.Sprintf("r%d@limit.test", i)})
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Multipart abuse at the default limits: thousands of parts before the
// file, a part with huge or countless headers, a field of 50 MB, a body cut
// off in the file. Each is refused clearly or handled, in bounded memory.
func TestMultipartLimits(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	post := func(build func(w io.Writer, boundary string) error) (int, map[string]any, uint64) {
		t.Helper()
		peak := startHeapSampler()
		pr, pw := io.Pipe()
		go func() {
			bw := bufio.NewWriterSize(pw, 64<<10)
			err := build(bw, "hardB0undary")
			if err == nil {
				err = bw.Flush()
			}
			pw.CloseWithError(err)
		}()
		status, out := s.call("POST", "/v1/imports", nil, pr, "multipart/form-data; boundary=hardB0undary")
		if id, ok := out["id"].(string); ok {
			s.waitDone(id, time.Minute)
		} else if id, ok := out["import_id"].(string); ok {
			s.waitDone(id, time.Minute)
		}
		return status, out, peak.stop()
	}
	part := func(w io.Writer, name, headers, value string) error {
		_, err := fmt.Fprintf(w, "--hardB0undary\r\nContent-Disposition: form-data; name=%q\r\n%s\r\n%s\r\n", name, headers, value)
		return err
	}
	file := func(w io.Writer, content string, end bool) error {
		if _, err := fmt.Fprintf(w, "--hardB0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\n\r\n%s", content); err != nil {
			return err
		}
		if end {
			_, err := io.WriteString(w, "\r\n--hardB0undary--\r\n")
			return err
		}
		return nil
	}

	for _, c := range []struct {
		name   string
		build  func(w io.Writer, b string) error
		status int
		msg    string
		check  func(t *testing.T, out map[string]any)
	}{
		{"10,000 tiny parts before the file", func(w io.Writer, _ string) error {
			for i := 0; i < 10000; i++ {
				if err := part(w, fmt.Sprintf("x%d", i), "", "y"); err != nil {
					return err
				}
			}
			return file(w, "name,email\nParts,parts@multipart.test\n", true)
		}, 202, "", func(t *testing.T, out map[string]any) {
			if v := s.summary(out["id"].(string), ""); v.Created != 1 {
				t.Errorf("import after 10,000 parts: %+v", v)
			}
		}},
		{"10,000 repeated mode fields", func(w io.Writer, _ string) error {
			for i := 0; i < 10000; i++ {
				if err := part(w, "mode", "", []string{"insert", "update"}[i%2]); err != nil {
					return err
				}
			}
			return file(w, "name,email\nMode,mode@multipart.test\n", true)
		}, 202, "", func(t *testing.T, out map[string]any) {
			if v := s.summary(out["id"].(string), ""); v.Mode != "update" || v.Skipped != 1 {
				t.Errorf("the last mode field wins: %+v", v)
			}
		}},
		{"a part with 20 MB of headers", func(w io.Writer, _ string) error {
			return part(w, "schema", "X-Big: "+strings.Repeat("h", 20<<20)+"\r\n", "contacts")
		}, 400, "message too large", nil},
		{"a part with 20,000 headers", func(w io.Writer, _ string) error {
			var h strings.Builder
			for i := 0; i < 20000; i++ {
				fmt.Fprintf(&h, "X-H%d: v\r\n", i)
			}
			return part(w, "schema", h.String(), "contacts")
		}, 400, "message too large", nil},
		{"a 50 MB schema field", func(w io.Writer, _ string) error {
			if err := part(w, "schema", "", strings.Repeat("s", 50<<20)); err != nil {
				return err
			}
			return file(w, "name,email\nA,a@multipart.test\n", true)
		}, 400, "unknown schema", nil},
		{"a body cut off inside a small file", func(w io.Writer, _ string) error {
			return file(w, "name,email\nCut,cut@multipart.test\nCut Two,cut2@multipart.te", false)
		}, 400, "cannot read the file: reading the file: unexpected EOF", nil},
		{"a body cut off after 200 KB of rows", func(w io.Writer, _ string) error {
			var rows strings.Builder
			rows.WriteString("name,email\n")
			for i := 0; rows.Len() < 200<<10; i++ {
				fmt.Fprintf(&rows, "Cut %d,cut%d@multipart.test\n", i, i)
			}
			return file(w, rows.String()+"Cut Last,cut-last@multipart.te", false)
		}, 400, "could not be read to the end", func(t *testing.T, out map[string]any) {
			if v := s.summary(out["import_id"].(string), ""); v.Status != "failed" || v.Total == 0 || v.Processed != v.Total {
				t.Errorf("the import cut off: %+v", v)
			}
		}},
		{"no file part at all", func(w io.Writer, _ string) error {
			if err := part(w, "schema", "", "contacts"); err != nil {
				return err
			}
			_, err := io.WriteString(w, "--hardB0undary--\r\n")
			return err
		}, 400, "no file", nil},
		{"garbage instead of parts", func(w io.Writer, _ string) error {
			_, err := io.WriteString(w, strings.Repeat("not a multipart body\r\n", 1000))
			return err
		}, 400, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, out, heap := post(c.build)
			t.Logf("%d %.120v; peak HeapInuse %d MiB", status, out["error"], heap>>20)
			if status != c.status || (c.status != 202 && !strings.Contains(fmt.Sprint(out["error"]), c.msg)) {
				t.Fatalf("%d %v, want %d saying %q", status, out, c.status, c.msg)
			}
			if heap > 256<<20 {
				t.Errorf("peak HeapInuse %d MiB", heap>>20)
			}
			if c.check != nil {
				c.check(t, out)
			}
		})
	}
	for name, ct := range map[string]string{"not multipart": "text/csv", "no boundary": "multipart/form-data"} {
		status, out := s.call("POST", "/v1/imports", nil, strings.NewReader("name,email\n"), ct)
		if status != 400 || out["error"] == nil {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
}

// An XLSX upload the client abandons while it is being spooled leaves no
// temporary file behind, and neither does one refused after spooling.
func TestAbortedUploadsLeaveNoTempFiles(t *testing.T) {
	dataDir, tmp := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := startSystem(t, dataDir, nil)
	xlsx := randomXLSX(t, 2<<20)

	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", s.info.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		var head bytes.Buffer
		mw := multipart.NewWriter(&head)
		fw, _ := mw.CreateFormFile("file", "big.xlsx")
		_, _ = fw.Write(xlsx[:len(xlsx)/2]) // half of the file, then the client goes away
		fmt.Fprintf(c, "POST /v1/imports HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", mw.FormDataContentType(), len(xlsx)+1000)
		_, _ = c.Write(head.Bytes())
		testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if left, _ := os.ReadDir(tmp); len(left) == 0 {
				return fmt.Errorf("the upload is not being spooled yet")
			}
			return nil
		})
		_ = c.Close()
		testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				return fmt.Errorf("left behind: %v", left)
			}
			return nil
		})
	}
	// Refused after spooling: no such sheet.
	status, out := s.upload(xlsx, map[string]string{"sheet": "nope"})
	if status != 400 || !strings.Contains(fmt.Sprint(out["error"]), "no sheet") {
		t.Fatalf("%d %v", status, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if got := s.getJSON("/healthz"); got["status"] != "ok" {
		t.Fatalf("healthz = %v", got)
	}
}

// Secrets (the bootstrap API key, the JWT secret, the passwords in the
// NATS and MongoDB URLs, API keys created later, keys that almost match)
// never appear in the logs, at debug level, nor in any answer, whatever
// requests come, failed authentication included.
func TestSecretsStayOutOfLogsAndAnswers(t *testing.T) {
	const (
		bootstrap = "hardening-bootstrap-key-Zq8vX2pL9mWc4RtY7uKd"
		jwtSecret = "hardening-jwt-secret-Hn3sV6bQ1xFj8aZc5eTg0-32bytes"
		natsPass  = "NatsPassw0rd-Ke8Ls2Wq"
		mongoPass = "MongoPassw0rd-Rt5Yu1Io"
	)
	nearMiss := bootstrap[:len(bootstrap)-1] + "e" // a typo of the real key
	dir := t.TempDir()

	ns := natstest.Start(t, &server.Options{StoreDir: filepath.Join(dir, "nats"), Username: "intake", Password: natsPass, MaxPayload: 8 << 20})
	fr, err := embedded.StartFerret(dir, "127.0.0.1:0", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Stop()
	natsURL := strings.Replace(ns.ClientURL(), "nats://", "nats://intake:"+natsPass+"@", 1)
	mongoURI := strings.Replace(fr.URI(), "mongodb://", "mongodb://intake:"+mongoPass+"@", 1) + "?authMechanism=PLAIN"

	var logs testenv.SyncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &logs, zapcore.DebugLevel))
	s := startSystemLogged(t, log, func(c *app.Config) {
		c.DataDir = dir
		c.NATSURL = natsURL
		c.MongoURI = mongoURI
		c.BootstrapAPIKey = bootstrap
		c.JWTHS256Secret = jwtSecret
	})

	var answers testenv.SyncBuffer
	do := func(method, path string, headers map[string]string, body io.Reader, ct string) (int, string) {
		t.Helper()
		resp := s.request(method, path, headers, body, ct)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		for k, vs := range resp.Header {
			fmt.Fprintf(&answers, "%s: %s\n", k, strings.Join(vs, ","))
		}
		_, _ = answers.Write(data)
		return resp.StatusCode, string(data)
	}
	upload := func(headers map[string]string, content string) (int, string) {
		body, ctype := testenv.UploadForm("f.csv", []byte(content), nil)
		return do("POST", "/v1/imports", headers, body, ctype)
	}
	good := key(bootstrap)
	file := "name,email\nAnn,ann@secrets.test\n"

	forged, _ := auth.SignHS256([]byte(strings.Repeat("w", 40)), map[string]any{"sub": "x", "tenant": "default", "capabilities": []string{"admin"}, "exp": time.Now().Add(time.Hour).Unix()})
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"x","tenant":"default","capabilities":["admin"],"exp":%d}`, time.Now().Add(time.Hour).Unix()))) + "."
	for name, h := range map[string]map[string]string{
		"no credential":           nil,
		"a near miss of the key":  key(nearMiss),
		"the JWT secret as a key": key(jwtSecret),
		"the JWT secret as token": bearer(jwtSecret),
		"a forged token":          bearer(forged),
		"an alg=none token":       bearer(none),
		"basic auth with the key": {"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+bootstrap))},
		"the key as a bearer":     bearer(bootstrap),
	} {
		if status, body := upload(h, file); status != 401 {
			t.Errorf("%s: %d %s, want 401", name, status, body)
		}
	}

	status, body := upload(good, file)
	if status != 202 {
		t.Fatalf("upload with the bootstrap key: %d %s", status, body)
	}
	var acc map[string]any
	_ = json.Unmarshal([]byte(body), &acc)
	id := acc["id"].(string)
	do("GET", "/v1/imports/"+id+"?wait=10s", good, nil, "")
	do("GET", "/v1/imports/"+id+"/errors", good, nil, "")
	do("GET", "/v1/imports", good, nil, "")
	do("GET", "/v1/schemas/contacts/template.csv", good, nil, "")
	upload(good, "\x89PNG\r\n\x1a\n")
	do("GET", "/healthz", nil, nil, "")
	do("GET", "/readyz", nil, nil, "")
	do("GET", "/metrics", nil, nil, "")

	// A key created now: its creation answer shows it once; it must
	// appear nowhere else.
	created := map[string]any{}
	status, body = do("POST", "/v1/keys", good, strings.NewReader(`{"name":"ci","tenant":"acme","capabilities":["imports:write","imports:read"]}`), "application/json")
	if status != 201 || json.Unmarshal([]byte(body), &created) != nil || created["key"] == nil {
		t.Fatalf("create key: %d %s", status, body)
	}
	newKey := created["key"].(string)
	answersBefore := answers.String()
	answers = testenv.SyncBuffer{}
	_, _ = io.WriteString(&answers, strings.ReplaceAll(answersBefore, newKey, "<the new key, in its creation answer>"))
	do("GET", "/v1/keys?tenant=acme", good, nil, "")
	if status, body := upload(key(newKey), file); status != 202 {
		t.Fatalf("upload with the new key: %d %s", status, body)
	}
	tok, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "u", "tenant": "acme", "capabilities": []string{"imports:read"}, "exp": time.Now().Add(time.Hour).Unix()})
	if status, _ := do("GET", "/v1/imports", bearer(tok), nil, ""); status != 200 {
		t.Fatalf("valid JWT: %d", status)
	}
	if status, _ := do("GET", "/v1/imports", bearer(tok+"x"), nil, ""); status != 401 {
		t.Fatalf("tampered JWT: %d", status)
	}
	s.stop() // shutdown logs too

	// The configuration as logged at start is redacted (today zap cannot
	// encode it at all, "configError": its Ready field is a func; once it
	// can, this is what it shows).
	cfg := app.Config{NATSURL: natsURL, MongoURI: mongoURI, BootstrapAPIKey: bootstrap, JWTHS256Secret: jwtSecret}
	fmt.Fprintf(&logs, "%+v\n", cfg.Redacted())

	secrets := map[string]string{
		"bootstrap key": bootstrap, "JWT secret": jwtSecret, "NATS password": natsPass, "MongoDB password": mongoPass,
		"near-miss key": nearMiss, "created key": newKey, "valid JWT": tok,
		"MongoDB PLAIN payload": base64.StdEncoding.EncodeToString([]byte("\x00intake\x00" + mongoPass)),
		"bootstrap key, base64": base64.StdEncoding.EncodeToString([]byte("admin:" + bootstrap)),
	}
	logText, answerText := logs.String(), answers.String()
	if !strings.Contains(logText, `"msg":"starting"`) {
		t.Fatalf("the logs were not captured: %.300s", logText)
	}
	for what, secret := range secrets {
		if strings.Contains(logText, secret) {
			i := strings.Index(logText, secret)
			t.Errorf("the %s is in the logs: ...%s...", what, logText[max(0, i-200):min(len(logText), i+len(secret)+50)])
		}
		if strings.Contains(answerText, secret) {
			i := strings.Index(answerText, secret)
			t.Errorf("the %s is in an answer: ...%s...", what, answerText[max(0, i-200):min(len(answerText), i+len(secret)+50)])
		}
	}
	t.Logf("%d bytes of logs and %d bytes of answers checked for %d secrets", len(logText), len(answerText), len(secrets))
	if os.Getenv("INTAKE_SHOW_LOGS") != "" {
		t.Log(logText)
	}
}
