// Package metrics defines Intake's Prometheus metrics on a registry that is
// created once per process and passed to the services (no global registry).
package metrics

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every metric of one process.
type Metrics struct {
	Registry *prometheus.Registry

	// Pipeline.
	Chunks       *prometheus.CounterVec   // stage, outcome: acked, retried, dead_lettered
	ChunkSeconds *prometheus.HistogramVec // stage: handler and publish time of one chunk
	Redelivered  *prometheus.CounterVec   // stage: chunks seen more than once
	Panics       *prometheus.CounterVec   // stage: handler calls that panicked (recovered: by the runner, by upstream's request handlers)
	Rows         *prometheus.CounterVec   // stage, result: rows accounted by the reporter
	RowsIngested prometheus.Counter       // rows read from uploads and published

	// Imports (in flight = sum(started) - sum(finished) across the fleet).
	ImportsStarted  prometheus.Counter
	ImportsFinished *prometheus.CounterVec // status
	// SummaryWrites counts the reporter's summary writes: fewer than
	// accounting messages when several that wait together share one.
	SummaryWrites prometheus.Counter

	// HTTP.
	HTTPRequests *prometheus.HistogramVec // route, method, code

	// UpstreamRefusedReplies counts upstream requests left unanswered
	// because their reply subject was not the tenant's inbox.
	UpstreamRefusedReplies prometheus.Counter

	// Event streams (GET /v1/imports/{id}/events).
	EventStreams     prometheus.Gauge   // streams open in this process
	EventStreamReads prometheus.Counter // summary reads for them: one per watched import and poll, however many watch
}

// New creates the metrics on a fresh registry, with Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Chunks: counterVec("intake_chunks_total",
			"Chunks handled, by stage and outcome (acked, retried, dead_lettered).", "stage", "outcome"),
		ChunkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "intake_chunk_seconds", Help: "Time to handle one chunk and store its outputs, by stage.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"stage"}),
		Redelivered: counterVec("intake_chunks_redelivered_total",
			"Chunks delivered more than once, by stage.", "stage"),
		Panics: counterVec("intake_handler_panics_total",
			"Handler calls that panicked and were recovered, by stage (a chunk is retried, then dead-lettered; an upstream request is answered as failed).", "stage"),
		Rows: counterVec("intake_rows_total",
			"Rows accounted for, by the stage that decided them and the result.", "stage", "result"),
		RowsIngested: counter("intake_rows_ingested_total",
			"Rows read from uploads and published to the pipeline."),
		ImportsStarted: counter("intake_imports_started_total",
			"Imports opened."),
		ImportsFinished: counterVec("intake_imports_finished_total",
			"Imports finished, by status (completed, failed).", "status"),
		SummaryWrites: counter("intake_summary_writes_total",
			"Import summaries written by the reporter (accounting messages that wait together are applied with one write)."),
		UpstreamRefusedReplies: counter("intake_upstream_refused_replies_total",
			"Upstream requests not answered: the reply subject was not the tenant's inbox."),
		HTTPRequests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "intake_http_request_seconds", Help: "HTTP requests, by route pattern, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
		EventStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "intake_event_streams", Help: "Server-sent event streams of imports open in this process.",
		}),
		EventStreamReads: counter("intake_event_stream_reads_total",
			"Import summaries read for event streams (one per watched import and poll, shared by its streams)."),
	}
	m.Registry.MustRegister(m.Chunks, m.ChunkSeconds, m.Redelivered, m.Panics, m.Rows, m.RowsIngested,
		m.ImportsStarted, m.ImportsFinished, m.SummaryWrites, m.HTTPRequests, m.UpstreamRefusedReplies, m.EventStreams, m.EventStreamReads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Consumer names one durable consumer to report on.
type Consumer struct{ Stream, Durable string }

// WatchConsumers reports the consumers' pending, ack-pending and redelivered
// counts, read from JetStream at scrape time.
func (m *Metrics) WatchConsumers(js jetstream.JetStream, consumers []Consumer) {
	m.Registry.MustRegister(&consumerCollector{js: js, consumers: consumers})
}

var (
	pendingDesc     = prometheus.NewDesc("intake_consumer_pending", "Messages not yet delivered to the consumer.", []string{"consumer"}, nil)
	ackPendingDesc  = prometheus.NewDesc("intake_consumer_ack_pending", "Messages delivered and not yet acknowledged.", []string{"consumer"}, nil)
	redeliveredDesc = prometheus.NewDesc("intake_consumer_redelivered", "Messages being redelivered.", []string{"consumer"}, nil)
)

type consumerCollector struct {
	js        jetstream.JetStream
	consumers []Consumer
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- ackPendingDesc
	ch <- redeliveredDesc
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, cons := range c.consumers {
		con, err := c.js.Consumer(ctx, cons.Stream, cons.Durable)
		if err != nil {
			continue // not created yet, or the broker is away: report nothing rather than a wrong zero
		}
		info, err := con.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(info.NumPending), cons.Durable)
		ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(info.NumAckPending), cons.Durable)
		ch <- prometheus.MustNewConstMetric(redeliveredDesc, prometheus.GaugeValue, float64(info.NumRedelivered), cons.Durable)
	}
}

// counter and counterVec build the counters New registers: every one has
// a name and a help text, and a vector its labels.
func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}
