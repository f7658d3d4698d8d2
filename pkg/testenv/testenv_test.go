package testenv

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunWaitsForReadyAndStopsOnce(t *testing.T) {
	stops := 0
	info, stop := Run(t, "service", func(ctx context.Context, ready func(string)) error {
		ready("listening")
		<-ctx.Done()
		stops++
		return nil
	})
	if info != "listening" {
		t.Fatalf("info = %q, want what ready was given", info)
	}
	stop()
	stop()
	if stops != 1 {
		t.Fatalf("run returned %d times, want once", stops)
	}
}

func TestUploadFormCarriesFieldsAndFile(t *testing.T) {
	body, ctype := UploadForm("contacts.csv", []byte("email\na@x.io\n"), map[string]string{"schema": "contacts"})
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatal(err)
	}
	form, err := multipart.NewReader(body, params["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if got := form.Value["schema"]; len(got) != 1 || got[0] != "contacts" {
		t.Fatalf("schema field = %v", got)
	}
	files := form.File["file"]
	if len(files) != 1 || files[0].Filename != "contacts.csv" {
		t.Fatalf("file part = %v", files)
	}
	f, _ := files[0].Open()
	data, _ := io.ReadAll(f)
	if string(data) != "email\na@x.io\n" {
		t.Fatalf("file content = %q", data)
	}
}

func TestCheckForReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("f called %d times, want 3", calls)
	}
}

func TestSyncBufferKeepsEveryConcurrentWrite(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes written, want 800", n)
	}
}

func TestEventReaderReadsEventsAndCountsComments(t *testing.T) {
	type view struct{ N int }
	r := NewEventReader(strings.NewReader(": hello\n\n" +
		"event: progress\ndata: {\"N\":\ndata: 1}\n\n" +
		": keep-alive\r\n\r\n" +
		"event: done\r\ndata: {\"N\": 2}\r\n\r\n"))
	for _, want := range []struct {
		name string
		n    int
	}{{"progress", 1}, {"done", 2}} {
		var v view
		name, err := r.Next(&v)
		if err != nil || name != want.name || v.N != want.n {
			t.Fatalf("Next = %q %+v %v, want %q with N %d", name, v, err, want.name, want.n)
		}
	}
	if _, err := r.Next(&view{}); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v, want io.EOF", err)
	}
	if r.Comments != 2 {
		t.Fatalf("%d comments counted, want 2", r.Comments)
	}
}

func TestEventReaderRefusesWhatIsNotAnEventStream(t *testing.T) {
	for in, want := range map[string]string{
		"<html>\n":                 `unexpected line "<html>"`,
		"event: done\ndata: {\n\n": "event done data",
	} {
		if _, err := NewEventReader(strings.NewReader(in)).Next(&struct{}{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", in, err, want)
		}
	}
}
