package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intake/intake/pkg/testenv"
)

// runMainEnv makes the test binary run main with the arguments in
// runMainArgs (one per line), so a test can signal a real intake process.
const (
	runMainEnv  = "INTAKE_TEST_RUN_MAIN"
	runMainArgs = "INTAKE_TEST_MAIN_ARGS"
)

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = append([]string{"intake"}, strings.Split(os.Getenv(runMainArgs), "\n")...)
		main()
	}
	os.Exit(m.Run())
}

// serve logs the configuration in effect and shuts down cleanly on SIGINT (Ctrl-C) and SIGTERM and then exits 0,
// so `make run` and container runtimes see a clean stop.
func TestServeExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			args := []string{"serve", "--http-addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data")}
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), runMainEnv+"=1", runMainArgs+"="+strings.Join(args, "\n"))
			out := &testenv.SyncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			testenv.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
				if !strings.Contains(out.String(), `"msg":"http listening"`) {
					return errors.New("not serving yet: " + out.String())
				}
				return nil
			})
			// The start line logs the configuration in effect: defaults
			// applied (it once said ack_wait 0).
			for _, want := range []string{`"msg":"starting"`, `"ack_wait":30,`, `"unsealed_timeout":3600`, `"targets":["ingest","upstream",`} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the start line does not log %s:\n%s", want, out.String())
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil || cmd.ProcessState.ExitCode() != 0 || !strings.Contains(out.String(), `"msg":"stopped"`) {
					t.Fatalf("intake serve after %v: %v (exit %d); want a clean stop and exit 0:\n%s", sig, err, cmd.ProcessState.ExitCode(), out.String())
				}
			case <-time.After(time.Minute):
				t.Fatalf("intake serve did not stop after %v:\n%s", sig, out.String())
			}
		})
	}
}
