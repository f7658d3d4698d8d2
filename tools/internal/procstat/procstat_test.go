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

func TestCPUTimeGrowsWithWork(t *testing.T) {
	if _, err := CPUTime(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, err := CPUTime(os.Getpid())
	if err != nil || before < 0 {
		t.Fatalf("CPU time %s, %v", before, err)
	}
	// Spin until the process has used 50 ms more (the clock ticks at 10 ms).
	x, deadline := 0, time.Now().Add(time.Minute)
	for after := before; after < before+50*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("CPU time still %s after a minute of spinning (from %s)", after, before)
		}
		for i := range 1_000_000 {
			x += i
		}
		if after, err = CPUTime(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	_ = x
}
