# SmartCloudOps — see README.md. Every target works offline once the Go modules are cached.
GO       ?= go
BIN      ?= bin/smartcloudops
IMAGE    ?= smartcloudops:dev
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
NAB      ?= ../shared/data/nab
PKGS     := ./...

.PHONY: build run test test-integration scenarios loadtest lint bench eval docker ci fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/smartcloudops

## run: the bot on its embedded default, replaying the bundled incident (type `help`)
run: build
	$(BIN) serve --demo

## test: unit and end-to-end tests with the race detector (hermetic: loopback fakes only)
test:
	$(GO) test -race -count=1 $(PKGS)

## test-integration: tests against real Prometheus, node exporter and Alertmanager
## (install them with scripts/install-test-deps.sh)
test-integration:
	$(GO) test -race -count=1 -tags integration -run 'Integration' $(PKGS)

## scenarios: the user stories on the real binary (built without -race, for realistic timing;
## SCENARIOS_RACE=1 builds it with it) against Debian's Prometheus, Alertmanager and node
## exporter. Prints the measured latencies (bin/scenarios/latencies.txt); each story's console
## transcript, log and configuration are kept under bin/scenarios/_artifacts.
scenarios:
	rm -rf bin/scenarios && mkdir -p bin/scenarios
	SCENARIOS_LATENCIES=$(CURDIR)/bin/scenarios/latencies.txt $(GO) test -tags scenarios -count=1 -timeout 20m \
		-artifacts -outputdir $(CURDIR)/bin/scenarios ./scenarios/...; \
		status=$$?; cat bin/scenarios/latencies.txt 2>/dev/null; exit $$status

## loadtest: the load harness on the real binary (not part of test; loopback only, each scenario
## bounded; about 12 minutes at the default sizes): a fake Prometheus with N series and a storm
## switch, an Alertmanager webhook flood (wrk, and a Go client that logs every acknowledged alert),
## kill -9 mid-flood. Prints the table and writes bin/loadtest/report.json. Sizes come from the
## environment, e.g. SERIES=100000 STORM_SERIES=10000 ITEMS=100000 make loadtest (loadtest/README.md).
loadtest: build
	$(GO) run ./loadtest/cmd/loadtest -bin $(BIN) -out bin/loadtest

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration $(PKGS)
	$(GO) vet -tags scenarios ./scenarios/...
	scripts/check-layering.sh
	scripts/check-workflows.sh

## bench: the benchmarks behind the performance figures (one core, as the targets are stated)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 $(PKGS)

## eval: the detector on the NAB development set → reports/detector-eval.md; cross-validated over
## its four folds → reports/detector-cv.md; on generated families of normal behaviour with injected
## anomalies → reports/detector-synthetic.md; false incidents (episodes, as live) on pure noise and
## daily patterns, short and long series, warm-up included → reports/detector-noise.md
eval:
	$(GO) run ./cmd/smartcloudops detect eval --nab $(NAB) --out reports/nab --markdown reports/detector-eval.md
	$(GO) run ./cmd/smartcloudops detect eval --nab $(NAB) --cv --markdown reports/detector-cv.md
	$(GO) run ./cmd/smartcloudops detect eval --synthetic --markdown reports/detector-synthetic.md
	$(GO) run ./cmd/smartcloudops detect eval --noise --markdown reports/detector-noise.md

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 10s -fuzzminimizetime 5s $$pkg || exit 1; \
		done; \
	done

docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

## ci: what .ci/run runs
ci: lint test test-integration scenarios

clean:
	rm -rf bin reports/nab
