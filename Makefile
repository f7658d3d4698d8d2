# Intake. Needs only Go; everything else is fetched from the Go module proxy.
GO       ?= go
PKGS     := ./pkg/... ./services/... ./schemas/... ./test/... ./tools/...
BIN      := bin/intake
FUZZTIME ?= 10s

.PHONY: run build test fuzz bench bench-large bench-replace chaos scale lint vet clean

## run: start the whole importer on the embedded default (data under ./data); serve's flags in ARGS, e.g. make run ARGS='--http-addr 127.0.0.1:9090'
# Built, then run (not `go run`, which exits 1 after Ctrl-C even when intake
# shut down cleanly and exited 0).
run: build
	$(BIN) serve --data-dir ./data $(ARGS)

## build: build bin/intake
build:
	$(GO) build -trimpath -o $(BIN) ./services/intake

# Fuzz targets: package, function, and the inputs `make test` tries (about
# 5 s each on the 2-core CI machine). The seed corpora run in every
# `go test`; `make test` also fuzzes each briefly, `make fuzz` for longer.
# `make test` counts inputs rather than time: with a time limit, Go 1.26's
# fuzz coordinator can fail a target with "context deadline exceeded" and
# no failing input as the time runs out (golang/go#75804, fixed in Go 1.27;
# it failed FuzzXLSX in a CI run).
FUZZ := ./pkg/filereader:FuzzCSV:80000 ./pkg/filereader:FuzzXLSX:10000 ./pkg/filereader:FuzzRecordGuard:80000 \
	./pkg/schema:FuzzValidate:40000 ./services/ingest:FuzzUpload:2500 ./pkg/embedded:FuzzAppendJSONString:15000
FUZZ += ./pkg/filereader:FuzzJSON:10000 ./pkg/filereader:FuzzNDJSON:5000 ./pkg/filereader:FuzzVCard:20000

## test: vet, unit, integration and end-to-end tests, and a short fuzz run of each parser
test: vet
	$(GO) test -count=1 -timeout 15m $(PKGS)
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t#*:}; n=$${fn#*:}; fn=$${fn%%:*}; \
		$(GO) test -count=1 -run '^$$' -fuzz "^$$fn\$$" -fuzztime $${n}x -fuzzminimizetime 2s $$pkg || exit 1; done

vet:
	$(GO) vet $(PKGS)

## fuzz: longer fuzzing of the parsers and the validator (FUZZTIME each)
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t#*:}; n=$${fn#*:}; fn=$${fn%%:*}; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg || exit 1; done

# mongoimport 100.10 for bench's comparison, where this checkout sits beside
# the shared benchmark tools; a fresh clone has none, and bench says that it
# skips those columns.
MONGOIMPORT ?= $(wildcard ../shared/bench/mongoimport)

## bench: parser/validator benchmarks, JetStream publish throughput by durability setting
## (R1/R3, fsync every 2 min/always), then the end-to-end load side by side on the embedded
## default and on FerretDB started separately (rows/s of the pipeline, a direct InsertMany
## loader and mongoimport on the same database, the ratios, peak RSS of every process), and
## fairness (a 10-row import idle, behind another tenant's import and expensive rows)
bench: build
	$(GO) test -run '^$$' -bench 'BenchmarkCSV|BenchmarkXLSX' -benchtime 3x ./pkg/filereader
	$(GO) test -run '^$$' -bench 'BenchmarkValidate' -benchtime 200000x ./pkg/schema
	$(GO) test -run '^$$' -bench 'BenchmarkDurability' -benchtime 1000x ./pkg/streams
	$(GO) run ./tools/bench --bin $(BIN) --rows $${ROWS:-1000000} $(if $(MONGOIMPORT),--mongoimport $(MONGOIMPORT))
	$(GO) run ./tools/bench --bin $(BIN) --fairness --rows $${ROWS:-1000000}

## bench-large: one 10,000,000-row import through one process per stage on FerretDB started
## separately, with the peak RSS of every process (target: each under 512 MiB)
bench-large: build
	$(GO) run ./tools/bench --bin $(BIN) --rows $${ROWS:-10000000} --split

## bench-replace: a replace deleting all but one of ROWS=1000000 records, in its own job, while
## another tenant's 10-row imports are timed (they must not wait for the deletions)
bench-replace: build
	$(GO) run ./tools/bench --bin $(BIN) --rows $${ROWS:-1000000} --replace

## chaos: the fault harness: kill -9 of processes mid-import, restarts, invariants
## checked per row and per document (RUNS each scenario, ROWS per import)
chaos:
	$(GO) run ./tools/chaos --runs $${RUNS:-10} --rows $${ROWS:-200000}

## scale: throughput by instance count: every stage as separate processes (INSTANCES of each),
## FerretDB as its own process behind a proxy delaying each direction by 2 ms, TENANTS
## importing ROWS each at once; rows/s, ratios to the first count, peak RSS, backlog by stage
scale:
	$(GO) run ./tools/scale --tenants $${TENANTS:-8} --rows $${ROWS:-25000} --instances $${INSTANCES:-1,2,4} --delay 2ms

## lint: staticcheck, installed from the Go module proxy
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.6.1 $(PKGS)

clean:
	rm -rf bin data

.PHONY: test-browser

## test-browser: drive the upload page in headless Chromium (needs /usr/bin/chromium: apt-get install -y chromium)
test-browser:
	INTAKE_BROWSER_TEST=1 $(GO) test -count=1 -run Browser ./test/browser
