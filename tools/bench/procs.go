package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/tools/internal/procstat"
)

// proc is a long-running process the benchmark started (intake serve,
// intake ferretdb). Its peak RSS is read while it still runs.
type proc struct {
	name, log string
	cmd       *exec.Cmd
}

// startProc starts bin with env added to ours; its output goes to the file
// logFile (banners and FerretDB's warnings would bury the results), whose
// end an error quotes.
func startProc(name, logFile string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &proc{name: name, log: logFile, cmd: cmd}, nil
}

// failed is err with the end of the process's output.
func (p *proc) failed(err error) error {
	out, _ := os.ReadFile(p.log)
	return fmt.Errorf("%s: %w; its output ends: %s", p.name, err, lastLines(out))
}

// peakRSS is the process's peak RSS so far, in MiB.
func (p *proc) peakRSS() (int64, error) {
	rss, err := procstat.PeakRSS(p.cmd.Process.Pid)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.name, err)
	}
	return rss >> 20, nil
}

// cpu is the CPU time the process has used so far (0 if /proc cannot say).
func (p *proc) cpu() time.Duration {
	d, _ := procstat.CPUTime(p.cmd.Process.Pid)
	return d
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// noCPU is the client CPU of a column measured in one process.
func noCPU() time.Duration { return 0 }

// stop ends the process gracefully and waits for it.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
}

// serveProc is `intake serve` with its HTTP API at base.
type serveProc struct {
	*proc
	api  *client.REST
	base string
}

// startServe starts `intake serve` with args and env, its output in
// logDir/name.log, and waits until it is ready.
func startServe(name, logDir string, env []string, bin string, args ...string) (*serveProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc(name, filepath.Join(logDir, name+".log"), env, bin, append([]string{"serve", "--http-addr", addr, "--log-level", "warn"}, args...)...)
	if err != nil {
		return nil, err
	}
	s := &serveProc{proc: p, base: "http://" + addr, api: client.NewREST("http://" + addr)}
	if err := waitReady(s.api, time.Minute); err != nil {
		p.stop()
		return nil, p.failed(err)
	}
	return s, nil
}

// startFerretDB starts `intake ferretdb` on loopback TCP (an outside
// database: the serve processes reach it over the wire only) and waits
// until it answers; it returns the process and its URI.
func startFerretDB(bin, dataDir string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("ferretdb", dataDir+".log", nil, bin, "ferretdb", "--data-dir", dataDir, "--listen", addr)
	if err != nil {
		return nil, "", err
	}
	uri := "mongodb://" + addr + "/"
	if err := pingUntil(uri, time.Minute); err != nil {
		p.stop()
		return nil, "", p.failed(err)
	}
	return p, uri, nil
}

// pingUntil waits until the database at uri answers a ping.
func pingUntil(uri string, limit time.Duration) error {
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.Ping(ctx, nil)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database %s not answering within %s: %w", uri, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// embeddedSocketURI is the URI of the embedded FerretDB's owner-only socket
// in dataDir, which other processes of the same user reach it through.
func embeddedSocketURI(dataDir string) (string, error) {
	socket, err := embedded.MongoSocketPath(dataDir)
	if err != nil {
		return "", err
	}
	return embedded.MongoSocketURI(socket), nil
}

// embeddedNATSURL is the URL, with the generated credentials, of the
// embedded nats-server of the serve process on dataDir.
func embeddedNATSURL(dataDir string) (string, error) {
	c, err := embedded.ReadNATSContext(dataDir)
	if err != nil {
		return "", err
	}
	return c.URLWithCredentials()
}

// exitedPeakRSS is the peak RSS in MiB of a process that has exited (its
// rusage; /proc no longer has it).
func exitedPeakRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss >> 10 // kB on Linux
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls the server's readiness until it is ready or limit has passed.
func waitReady(api *client.REST, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		if err = api.Ready(context.Background()); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("intake not ready within %s: %w", limit, err)
}
