# Intake. Needs only Go; everything else is fetched from the Go module proxy.
GO       ?= go
PKGS     := ./pkg/... ./services/... ./schemas/...
BIN      := bin/intake
FUZZTIME ?= 10s

.PHONY: run build test test-short fuzz bench lint vet clean

## run: start the whole importer on the embedded default (data under ./data)
run:
	$(GO) run ./services/intake serve --data-dir ./data

## build: build bin/intake
build:
	$(GO) build -trimpath -o $(BIN) ./services/intake

## test: vet, unit, integration and end-to-end tests, and a short fuzz run
test: vet
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime 5s ./pkg/filereader

vet:
	$(GO) vet $(PKGS)

## fuzz: longer fuzzing of the parsers
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME) ./pkg/filereader

## bench: end-to-end load on the embedded default (prints rows/s and peak RSS)
bench: build
	$(GO) run ./services/bench --bin $(BIN) --rows $${ROWS:-1000000}

## lint: staticcheck, installed from the Go module proxy
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

clean:
	rm -rf bin data
