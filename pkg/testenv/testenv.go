// Package testenv holds the small test helpers that tests of several
// packages share: polling with a deadline instead of sleeping, and a
// goroutine-safe buffer for captured output.
package testenv

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// CheckFor polls f every so often until it returns nil, and fails the test
// with f's last error if total passes first (as nats-server's tests do).
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	tb.Fatalf("timed out after %s: %v", total, err)
}

// SyncBuffer is a bytes.Buffer that a process or logger may write while the
// test reads it; it is a zapcore.WriteSyncer too. The zero value is empty.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Sync does nothing: the bytes are in memory already.
func (s *SyncBuffer) Sync() error { return nil }

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
