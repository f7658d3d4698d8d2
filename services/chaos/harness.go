package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// env is where a run keeps its binaries, data and logs.
type env struct {
	dir       string
	intakeBin string
	natsBin   string
	ackWait   string // --ack-wait of the intake processes: how soon a killed worker's chunks come back
}

// build compiles intake and nats-server (from the Go module) into dir.
func build(ctx context.Context, dir string) (*env, error) {
	e := &env{dir: dir, intakeBin: filepath.Join(dir, "intake"), natsBin: filepath.Join(dir, "nats-server"), ackWait: "3s"}
	for bin, pkg := range map[string]string{e.intakeBin: "github.com/intake/intake/services/intake", e.natsBin: "github.com/nats-io/nats-server/v2"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return e, nil
}

// proc is a process of the system under test, restartable with the same arguments.
type proc struct {
	name string
	bin  string
	args []string
	log  string
	cmd  *exec.Cmd
}

func (e *env) start(name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, bin: bin, args: args, log: filepath.Join(e.dir, name+".log")}
	return p, p.run()
}

func (p *proc) run() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() { _ = p.cmd.Wait(); f.Close() }()
	return nil
}

// kill9 kills the process without letting it clean up.
func (p *proc) kill9() { _ = p.cmd.Process.Signal(syscall.SIGKILL); waitExit(p.cmd) }

// stop asks the process to shut down gracefully.
func (p *proc) stop() { _ = p.cmd.Process.Signal(syscall.SIGTERM); waitExit(p.cmd) }

func waitExit(cmd *exec.Cmd) {
	for i := 0; i < 300; i++ {
		if cmd.ProcessState != nil || syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(ctx context.Context, what string, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: not within %s: %v", what, limit, err)
}

func waitHTTP(ctx context.Context, url string) error {
	return waitFor(ctx, url, time.Minute, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})
}

// contacts is a generated file and, computed independently of Intake, what
// importing it must give: which rows fail, which are duplicates, which
// records exist.
type contacts struct {
	tag     string
	csv     []byte
	total   int
	failed  map[int]bool
	skipped map[int]bool
	records map[string]string // _id -> name
}

func makeContacts(n int, tag string) contacts {
	c := contacts{tag: tag, total: n, failed: map[int]bool{}, skipped: map[int]bool{}, records: map[string]string{}}
	var b bytes.Buffer
	b.WriteString("name,email,company\n")
	for i := 0; i < n; i++ {
		row, name, email := i+2, fmt.Sprintf("%s person %d", tag, i), fmt.Sprintf("%s.%d@example.com", tag, i)
		switch {
		case i%97 == 5:
			email = "not-an-email"
		case i%89 == 7 && i > 0:
			email = fmt.Sprintf("%s.%d@example.com", tag, i-1) // repeats the row before
		}
		fmt.Fprintf(&b, "%s,%s,Company %d\n", name, email, i%13)
		key := "email:" + email
		switch {
		case email == "not-an-email":
			c.failed[row] = true
		case c.records[key] != "":
			c.skipped[row] = true // a later row with a key already seen (the first may have been invalid)
		default:
			c.records[key] = name
		}
	}
	c.csv = b.Bytes()
	return c
}

func upload(base, apiKey string, c contacts) (string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "contacts.csv")
	_, _ = fw.Write(c.csv)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/imports", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("upload: %s %s", resp.Status, data)
	}
	var out struct{ ID string }
	return out.ID, json.Unmarshal(data, &out)
}

type summary struct {
	Status                                   string
	Reason                                   string
	Total, Created, Updated, Skipped, Failed int
}

func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// check verifies the invariants of a finished import: a terminal state, the
// sum, each source row counted once in the right bucket, and exactly the
// expected records in the database (none missing, none extra, right values).
func check(ctx context.Context, base, mongoURI, tenant, id string, c contacts, limit time.Duration) error {
	var s summary
	err := waitFor(ctx, "import "+id+" to finish", limit, func() error {
		if err := getJSON(base+"/v1/imports/"+id+"?wait=5s", &s); err != nil {
			return err
		}
		if s.Status == "processing" {
			return fmt.Errorf("still processing: %+v", s)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.Status != "completed" {
		return fmt.Errorf("import %s ended %s: %s", id, s.Status, s.Reason)
	}
	if s.Total != c.total || s.Created+s.Updated+s.Skipped+s.Failed != s.Total {
		return fmt.Errorf("summary %+v does not add up to %d rows", s, c.total)
	}
	if s.Created != len(c.records) || s.Updated != 0 || s.Skipped != len(c.skipped) || s.Failed != len(c.failed) {
		var out struct{ Errors []struct{ Message string } }
		_ = getJSON(base+"/v1/imports/"+id+"/errors", &out)
		sample := map[string]int{}
		for _, e := range out.Errors {
			sample[e.Message]++
		}
		return fmt.Errorf("summary %+v, want %d created, %d skipped, %d failed; row errors by message: %v", s, len(c.records), len(c.skipped), len(c.failed), sample)
	}
	for result, want := range map[string]map[int]bool{"failed": c.failed, "skipped": c.skipped} {
		var out struct{ Errors []struct{ Row int } }
		if err := getJSON(base+"/v1/imports/"+id+"/errors?result="+result, &out); err != nil {
			return err
		}
		got := map[int]bool{}
		for _, e := range out.Errors {
			got[e.Row] = true
		}
		if len(got) != len(want) {
			return fmt.Errorf("%d rows listed %s, want %d", len(got), result, len(want))
		}
		for row := range want {
			if !got[row] {
				return fmt.Errorf("row %d not listed %s", row, result)
			}
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		return err
	}
	defer client.Disconnect(ctx)
	cur, err := client.Database("intake_records").Collection("records."+tenant+".contacts").Find(ctx, bson.D{})
	if err != nil {
		return err
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range docs {
		id := fmt.Sprint(d["_id"])
		if seen[id] {
			return fmt.Errorf("record %s stored twice", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, "email:"+c.tag+".") {
			continue // another import's
		}
		want, ok := c.records[id]
		if !ok {
			return fmt.Errorf("unexpected record %s", id)
		}
		if d["name"] != want {
			return fmt.Errorf("record %s name %v, want %q", id, d["name"], want)
		}
	}
	for id := range c.records {
		if !seen[id] {
			return fmt.Errorf("record %s missing", id)
		}
	}
	return nil
}
