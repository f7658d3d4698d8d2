// Package procs starts the processes of a harness that runs Intake as
// separate processes on loopback (tools/scale): the binaries built from
// this workspace, each process logging to its own file, stopped gracefully
// at the end and measured through /proc while it runs.
package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/intake/intake/tools/internal/procstat"
)

// Binaries are the programs a harness starts.
type Binaries struct {
	Intake string // `intake` (services/intake)
	NATS   string // nats-server, at the version of the workspace's go.mod
}

// Build compiles intake and nats-server into dir.
func Build(ctx context.Context, dir string) (Binaries, error) {
	b := Binaries{Intake: filepath.Join(dir, "intake"), NATS: filepath.Join(dir, "nats-server")}
	pkgs := [][2]string{{b.Intake, "github.com/intake/intake/services/intake"}, {b.NATS, "github.com/nats-io/nats-server/v2"}}
	for _, p := range pkgs {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", p[0], p[1]).CombinedOutput()
		if err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", p[1], err, out)
		}
	}
	return b, nil
}

// Process is one started program; its output goes to Log.
type Process struct {
	Name   string
	Log    string
	cmd    *exec.Cmd
	done   chan struct{} // closed once it has exited
	exited atomic.Bool
}

// Start runs bin with args, logging to dir/name.log.
func Start(dir, name, bin string, args ...string) (*Process, error) {
	p := &Process{Name: name, Log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.Log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = diesWithParent()
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		p.exited.Store(true)
		close(p.done)
	}()
	return p, nil
}

// Stop asks the process to shut down (SIGTERM) and waits for it, killing
// it after 10 s.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.exited.Load() }

// PeakRSS is the process's peak resident set size so far, in bytes.
func (p *Process) PeakRSS() (int64, error) { return procstat.PeakRSS(p.cmd.Process.Pid) }

// CPUTime is the CPU time the process has used so far.
func (p *Process) CPUTime() (time.Duration, error) { return procstat.CPUTime(p.cmd.Process.Pid) }

// FreeAddr is a loopback address with a port nothing listens on.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("a free loopback port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// ErrHopeless, wrapped in f's error, ends Poll at once: what it waits for
// can no longer come (the process exited).
var ErrHopeless = errors.New("no use waiting")

// Poll calls f every interval until it returns nil, ctx ends or limit has
// passed; the error then says what was awaited and f's last error.
func Poll(ctx context.Context, what string, limit, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrHopeless) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s: %w", what, limit, err)
		}
		time.Sleep(interval)
	}
}
