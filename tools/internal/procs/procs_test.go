package procs

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPollEndsAtOnceWhenHopeless(t *testing.T) {
	calls := 0
	err := Poll(context.Background(), "the thing", time.Hour, time.Millisecond, func() error {
		calls++
		return errors.Join(errors.New("it exited"), ErrHopeless)
	})
	if !errors.Is(err, ErrHopeless) || calls != 1 || !strings.Contains(err.Error(), "the thing") {
		t.Fatalf("Poll = %v after %d calls, want ErrHopeless naming the thing after 1", err, calls)
	}
}

func TestPollSaysWhatItAwaitedAndTheLastError(t *testing.T) {
	calls := 0
	err := Poll(context.Background(), "the thing", 0, time.Millisecond, func() error {
		calls++
		return errors.New("not yet")
	})
	if err == nil || !strings.Contains(err.Error(), "the thing") || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("Poll = %v, want an error naming the thing and f's last error", err)
	}
	ok := 0
	if err := Poll(context.Background(), "the thing", time.Minute, time.Millisecond, func() error {
		if ok++; ok < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || ok != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, ok)
	}
}

func TestStartStopAndMeasure(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil || runtime.GOOS != "linux" {
		t.Skip("starts sleep and reads /proc")
	}
	p, err := Start(t.TempDir(), "sleeper", sleep, "60")
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("exited at once")
	}
	if rss, err := p.PeakRSS(); err != nil || rss <= 0 {
		t.Fatalf("PeakRSS = %d, %v", rss, err)
	}
	if _, err := p.CPUTime(); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	if !p.Exited() {
		t.Fatal("still running after Stop")
	}
}
