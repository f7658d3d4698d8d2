package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// backlogStages are the stages that consume from JetStream, by their
// consumers' durable names (a partitioned stage's are <name>-<partition>).
var backlogStages = []string{"validator", "deduplicator", "writer", "reporter"}

// jsz is what the backlog needs of nats-server's /jsz monitoring page.
type jsz struct {
	Accounts []struct {
		Streams []struct {
			Consumers []struct {
				Name       string `json:"name"`
				Pending    int    `json:"num_pending"`
				AckPending int    `json:"num_ack_pending"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// backlogByStage sums, per stage, the messages its consumers have not yet
// had acknowledged: waiting or being handled. Where messages pile up is
// the stage that holds the pipeline back.
func backlogByStage(j jsz) map[string]int {
	out := map[string]int{}
	for _, a := range j.Accounts {
		for _, s := range a.Streams {
			for _, c := range s.Consumers {
				if stage := stageOf(c.Name); stage != "" {
					out[stage] += c.Pending + c.AckPending
				}
			}
		}
	}
	return out
}

// stageOf is the stage of a consumer: its durable name, or the name before
// a partition's "-<p>"; "" for a consumer of no stage.
func stageOf(consumer string) string {
	for _, st := range backlogStages {
		if consumer == st {
			return st
		}
		if p, ok := strings.CutPrefix(consumer, st+"-"); ok && p != "" && strings.Trim(p, "0123456789") == "" {
			return st
		}
	}
	return ""
}

// backlogWatch samples the backlog of every stage until stopped and keeps
// each stage's peak.
type backlogWatch struct {
	mu   sync.Mutex
	peak map[string]int
	stop context.CancelFunc
	done chan struct{}
}

// watchBacklog samples nats-server's monitoring at monitor every interval.
func watchBacklog(ctx context.Context, monitor string, interval time.Duration) *backlogWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &backlogWatch{peak: map[string]int{}, stop: cancel, done: make(chan struct{})}
	url := "http://" + monitor + "/jsz?accounts=true&streams=true&consumers=true"
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			var j jsz
			if getJSON(ctx, url, &j) == nil { // a sample missed: the next one counts
				w.add(backlogByStage(j))
			}
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return w
}

// add keeps the peaks of one sample.
func (w *backlogWatch) add(sample map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for st, n := range sample {
		w.peak[st] = max(w.peak[st], n)
	}
}

// end stops sampling and returns each stage's peak backlog.
func (w *backlogWatch) end() map[string]int {
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
