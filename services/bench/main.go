// Command bench is the end-to-end load run of `make bench`: it generates a
// contacts CSV, starts `intake serve` on a fresh embedded data directory as
// a separate process, uploads the file over HTTP, waits for the summary and
// prints rows/s and the peak RSS of the intake process.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin/intake", "intake binary")
	rows := flag.Int("rows", 100_000, "rows in the generated file")
	mode := flag.String("mode", "upsert", "import mode")
	flag.Parse()

	dir, err := os.MkdirTemp("", "intake-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	csvPath := filepath.Join(dir, "contacts.csv")
	if err := writeContacts(csvPath, *rows); err != nil {
		return err
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(*bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", addr,
		"--embedded-nats-addr", "127.0.0.1:0", "--embedded-mongo-addr", "127.0.0.1:0", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	if err := waitReady(base+"/readyz", time.Minute); err != nil {
		return err
	}

	start := time.Now()
	id, err := upload(base, csvPath, *mode)
	if err != nil {
		return err
	}
	accepted := time.Since(start)
	var sum map[string]any
	for {
		sum, err = getJSON(base + "/v1/imports/" + id + "?wait=30s")
		if err != nil {
			return err
		}
		if sum["status"] != "processing" {
			break
		}
	}
	elapsed := time.Since(start)
	rss, _ := peakRSS(cmd.Process.Pid)
	fmt.Printf("rows=%d mode=%s status=%v created=%v updated=%v skipped=%v failed=%v\n",
		*rows, *mode, sum["status"], sum["created"], sum["updated"], sum["skipped"], sum["failed"])
	fmt.Printf("upload accepted in %s (%.0f rows/s)\n", accepted.Round(time.Millisecond), float64(*rows)/accepted.Seconds())
	fmt.Printf("import completed in %s: %.0f rows/s end to end\n", elapsed.Round(time.Millisecond), float64(*rows)/elapsed.Seconds())
	fmt.Printf("peak RSS of the intake process: %d MiB\n", rss>>20)
	return nil
}

func writeContacts(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "name,email,phone,company")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "Person %d,user%d@example.com,+1 201 555 %04d,Company %d\n", i, i, i%10000, i%100)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", url, limit)
}

// upload streams the file as multipart without holding it in memory.
func upload(base, path, mode string) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if err := mw.WriteField("mode", mode); err != nil {
				return err
			}
			fw, err := mw.CreateFormFile("file", filepath.Base(path))
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(fw, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/imports", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("upload: %s %s", resp.Status, body)
	}
	var out struct{ ID string }
	if err := json.Unmarshal(body, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

func getJSON(url string) (map[string]any, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// peakRSS reads VmHWM (the peak resident set) of a process from /proc.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM")
}
