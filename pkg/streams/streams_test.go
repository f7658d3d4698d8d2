package streams

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/subjects"
)

// Several instances starting at the same moment must all succeed.
func TestEnsureConcurrently(t *testing.T) {
	s := natstest.Start(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, js, err := Connect(s.ClientURL())
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			ctx := context.Background()
			if err := Ensure(ctx, js, Config{}); err != nil {
				errs <- err
				return
			}
			if _, err := EnsureConsumer(ctx, js, Consumer{Stream: subjects.StreamRows, Durable: "validator"}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent start failed: %v", err)
	}
	_, js := natstest.Connect(t, s)
	for _, sc := range Configs(Config{}) {
		st, err := js.Stream(context.Background(), sc.Name)
		if err != nil {
			t.Fatalf("stream %s missing: %v", sc.Name, err)
		}
		if st.CachedInfo().Config.Duplicates == 0 {
			t.Fatalf("stream %s has no duplicate window", sc.Name)
		}
	}
	rows, _ := js.Stream(context.Background(), subjects.StreamRows)
	if got := rows.CachedInfo().Config.MaxAge; got != 7*24*time.Hour {
		t.Fatalf("rows are kept %s, want 7 days", got)
	}
}
