package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// ofThisProcess is what read says of this process; it skips the test
// where there is no /proc.
func ofThisProcess[T any](t *testing.T, read func(pid int) (T, error)) T {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	v, err := read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	before := ofThisProcess(t, PeakRSS)
	if before <= 0 {
		t.Fatalf("peak RSS = %d, want a positive number of bytes", before)
	}
	// The peak grows, and is given in bytes, not kB: touch 64 MiB.
	block := make([]byte, 64<<20)
	for i := range block {
		block[i] = 1
	}
	after := ofThisProcess(t, PeakRSS)
	if after < 64<<20 || after < before {
		t.Fatalf("peak RSS after touching 64 MiB = %d (before %d)", after, before)
	}
	runtime.KeepAlive(block)
}

func TestPeakRSSOfNoProcess(t *testing.T) {
	if _, err := PeakRSS(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	before := ofThisProcess(t, CPUTime)
	// Spin until /proc counts at least 100 ms more (it counts in 10 ms
	// ticks); a deadline, not a sleep, so a loaded machine only makes it
	// slower.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		x := 0
		for i := 0; i < 10_000_000; i++ {
			x += i
		}
		runtime.KeepAlive(x)
		if after := ofThisProcess(t, CPUTime); after-before >= 100*time.Millisecond {
			return
		}
	}
	t.Fatal("CPU time did not grow by 100 ms in a minute of spinning")
}
