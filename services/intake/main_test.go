package main

import (
	"flag"
	"testing"
)

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("INTAKE_NATS_URL", "nats://broker:4222")
	t.Setenv("INTAKE_HTTP_ADDR", "0.0.0.0:9000")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	natsURL := fs.String("nats-url", "", "")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "")
	if err := parseWithEnv(fs, []string{"--http-addr", "127.0.0.1:7000"}); err != nil {
		t.Fatal(err)
	}
	if *natsURL != "nats://broker:4222" {
		t.Fatalf("INTAKE_NATS_URL not applied: %q", *natsURL)
	}
	if *httpAddr != "127.0.0.1:7000" {
		t.Fatalf("the command line must win over the environment: %q", *httpAddr)
	}
}

func TestBadEnvironmentValueIsReported(t *testing.T) {
	t.Setenv("INTAKE_CHUNK_SIZE", "many")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Int("chunk-size", 500, "")
	if err := parseWithEnv(fs, nil); err == nil {
		t.Fatal("want an error naming INTAKE_CHUNK_SIZE")
	}
}
