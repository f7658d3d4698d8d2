package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// commands are every command `intake` lists.
var commands = []string{"serve", "import", "status", "errors", "replay", "cancel", "keys", "healthcheck", "ferretdb", "completion", "help"}

// runCLI runs intake with args as the process would: what it printed and
// its exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errb bytes.Buffer
	status = exitStatus(run(args, &out, &errb), &errb)
	return out.String(), errb.String(), status
}

// `intake` alone prints the commands on stderr and exits 2, starting
// nothing: no ./data appears in the working directory.
func TestNoCommandPrintsHelpAndStartsNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	stdout, stderr, status := runCLI(t)
	if status != exitUsage || stdout != "" {
		t.Fatalf("intake: exit %d, stdout %q; want exit 2 and the help on stderr", status, stdout)
	}
	for _, c := range commands {
		if !strings.Contains(stderr, "\n  "+c+" ") {
			t.Errorf("intake's help does not list %s:\n%s", c, stderr)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("intake alone created %v in the working directory (%v)", entries, err)
	}
}

// `intake help CMD` and `intake CMD --help` exit 0 with the command's
// flags and an example.
func TestHelpOfEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"help", "import"}, {"import", "--help"}, {"import", "-h"}, {"help", "keys", "create"}} {
		if args[1] == "keys" {
			if stdout, _, status := runCLI(t, args...); status != exitOK || !strings.Contains(stdout, "--capabilities") {
				t.Fatalf("intake help keys create: exit %d\n%s", status, stdout)
			}
			continue
		}
		stdout, _, status := runCLI(t, args...)
		if status != exitOK {
			t.Fatalf("intake %v: exit %d, want 0", args, status)
		}
		for _, want := range []string{"intake import [flags] FILE", "--schema", "--dry-run", "(INTAKE_SERVER)", "Examples:", "intake import contacts.csv", "Exit codes:"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("intake %v does not show %q:\n%s", args, want, stdout)
			}
		}
	}
	for _, c := range commands[:9] {
		stdout, _, status := runCLI(t, "help", c)
		if status != exitOK || !strings.Contains(stdout, "Examples:\n  intake "+c) || !strings.Contains(stdout, "--help") {
			t.Errorf("intake help %s: exit %d, want 0 with flags and an example:\n%s", c, status, stdout)
		}
	}
	stdout, _, status := runCLI(t, "serve", "--help")
	for _, flag := range []string{"--http-addr", "--data-dir", "--nats-url", "--mongo-uri", "--ack-wait", "--bootstrap-api-key", "(INTAKE_HTTP_ADDR)", `(default "127.0.0.1:8080")`, "(default 30s)"} {
		if status != exitOK || !strings.Contains(stdout, flag) {
			t.Errorf("intake serve --help (exit %d) does not show %s", status, flag)
		}
	}
}

func TestBadCommandLinesExit2WithAClearMessage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "intake"`},
		{[]string{"serv"}, "did you mean serve?"},
		{[]string{"import", "--nope", "x.csv"}, "unknown flag: --nope"},
		{[]string{"import"}, "want one FILE, got 0 arguments"},
		{[]string{"status", "a", "b"}, "want one import ID, got 2 arguments"},
		{[]string{"keys", "bogus"}, `unknown command "bogus" for "intake keys"`},
		{[]string{"help", "bogus"}, `unknown help topic "bogus"`},
		{[]string{"help", "keys", "bogus"}, `unknown help topic "keys bogus"`},
		{[]string{"serve", "extra"}, "unexpected arguments: [extra]"},
		{[]string{"errors", "--csv", "--json", "imp_x"}, "--csv and --json: choose one"},
	} {
		stdout, stderr, status := runCLI(t, c.args...)
		if status != exitUsage || stdout != "" || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("intake %v: exit %d, stdout %q, stderr %q; want exit 2 saying %q", c.args, status, stdout, stderr, c.want)
		}
	}
	// `intake keys` alone, like `intake`: its commands on stderr, exit 2.
	if _, stderr, status := runCLI(t, "keys"); status != exitUsage || !strings.Contains(stderr, "create") || !strings.Contains(stderr, "revoke") {
		t.Errorf("intake keys: exit %d, stderr %q", status, stderr)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		stdout, stderr, status := runCLI(t, "completion", shell)
		if status != exitOK || !strings.Contains(stdout, "intake") || len(stdout) < 500 {
			t.Errorf("intake completion %s: exit %d, %d bytes, stderr %q", shell, status, len(stdout), stderr)
		}
	}
}

// Every flag of serve has its INTAKE_* variable; the command line wins.
func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("INTAKE_NATS_URL", "nats://broker:4222")
	t.Setenv("INTAKE_HTTP_ADDR", "0.0.0.0:9000")
	t.Setenv("INTAKE_ACK_WAIT", "1m")
	serve, _, err := newRoot(&bytes.Buffer{}, &bytes.Buffer{}).Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.ParseFlags([]string{"--http-addr", "127.0.0.1:7000"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(serve); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"nats-url": "nats://broker:4222", "http-addr": "127.0.0.1:7000", "ack-wait": "1m0s", "data-dir": "./data"} {
		if got := serve.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q (the variable applies; the command line wins)", flag, got, want)
		}
	}
	serve.Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(f.Usage, "("+envName(f.Name)+")") {
			t.Errorf("--%s has no variable in its help: %q", f.Name, f.Usage)
		}
	})
}

// A bad value in a variable stops serve before anything starts.
func TestBadEnvironmentValueIsReported(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("INTAKE_CHUNK_SIZE", "many")
	_, stderr, status := runCLI(t, "serve")
	if status != exitUsage || !strings.Contains(stderr, "INTAKE_CHUNK_SIZE") {
		t.Fatalf("serve with INTAKE_CHUNK_SIZE=many: exit %d, %q; want exit 2 naming the variable", status, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("serve with a bad variable created %v", entries)
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 rows", 1: "1 row", 2: "2 rows", 148: "148 rows"} {
		if got := plural(n, "row"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}
