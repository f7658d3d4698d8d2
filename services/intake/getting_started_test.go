package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The getting-started tutorial's commands are run as written, against a
// real server, and their output must be what the page shows (an import's
// id aside): the page cannot drift from the code.
func TestGettingStarted(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "getting-started.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("INTAKE_SERVER", startServer(t, nil))
	dir := t.TempDir()
	files := map[string]string{}
	idPattern := regexp.MustCompile(`imp_[a-z0-9]+`)
	lastID := ""
	commands := 0

	blocks := fencedBlocks(string(doc))
	for _, b := range blocks {
		switch {
		case strings.HasPrefix(b.info, "csv file="):
			name := strings.TrimPrefix(b.info, "csv file=")
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(b.body), 0o600); err != nil {
				t.Fatal(err)
			}
			files[name] = path
		case b.info == "console":
			for _, step := range consoleSteps(b.body) {
				args := strings.Fields(strings.TrimPrefix(step.command, "intake "))
				for i, a := range args {
					if a == "ID" {
						args[i] = lastID
					}
					if p, ok := files[a]; ok {
						args[i] = p
					}
				}
				var out, errb bytes.Buffer
				err := run(args, &out, &errb)
				var code exitCode
				if err != nil && !errors.As(err, &code) {
					t.Fatalf("$ %s: %v\n%s", step.command, err, errb.String())
				}
				got := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
				if len(got) != len(step.output) {
					t.Fatalf("$ %s printed\n%s\nthe page shows\n%s", step.command, out.String(), strings.Join(step.output, "\n"))
				}
				for i, want := range step.output {
					re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(want), "imp_…", "imp_[a-z0-9]+") + "$")
					if !re.MatchString(got[i]) {
						t.Errorf("$ %s: line %d is %q, the page shows %q", step.command, i+1, got[i], want)
					}
				}
				if id := idPattern.FindString(out.String()); id != "" {
					lastID = id
				}
				commands++
			}
		}
	}
	if commands < 4 || len(files) < 2 {
		t.Fatalf("ran %d commands and wrote %d files: the page's blocks were not found", commands, len(files))
	}
}

type fenced struct{ info, body string }

// fencedBlocks returns the page's ``` blocks with their info strings.
func fencedBlocks(doc string) []fenced {
	var out []fenced
	var cur *fenced
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &fenced{info: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		}
	}
	return out
}

type consoleStep struct {
	command string
	output  []string
}

// consoleSteps splits a console block into "$ command" lines and the
// output lines under each.
func consoleSteps(body string) []consoleStep {
	var out []consoleStep
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			out = append(out, consoleStep{command: cmd})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].output = append(out[len(out)-1].output, line)
		}
	}
	return out
}
