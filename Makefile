# Inflow. `make` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
TEST_TIMEOUT ?= 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: btcd ## build every binary into bin/ (CGO_ENABLED=0), btcd (the local Bitcoin node) included
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/indexer ./indexer
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ledgerd ./ledgerd
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/apid ./apid
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/inflow ./deploy/local

# btcd, the real node behind bitcoin-regtest, built from the btcd module
# go.mod pins (it is rebuilt only when go.mod changes).
.PHONY: btcd
btcd: $(BIN)/btcd
$(BIN)/btcd: go.mod
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/btcd github.com/btcsuite/btcd

.PHONY: run
run: build ## run Inflow in one process: Kafka, the EVM, Bitcoin, Tron and Solana local chains, indexer, ledgerd and the API on :8080 (data in ./data)
	$(BIN)/inflow --data ./data

.PHONY: test
test: btcd ## run every test, integration tests included (CI=true turns missing services into failures)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-short
test-short: ## run the fast tests only
	$(GO) test -short -count=1 ./...

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Every fuzz target of a decoder that reads outside input (package:target).
FUZZ_TARGETS := ./pkg/events:FuzzUnmarshal ./pkg/jsonscan:FuzzStr ./indexer/evm:FuzzExtract ./indexer/bitcoin:FuzzBlock ./indexer/bitcoin:FuzzVerbose \
	./indexer/tron:FuzzTransaction ./indexer/solana:FuzzExtract ./pkg/chain:FuzzParseAddress ./pkg/chain:FuzzParseBitcoinAddress \
	./pkg/descriptor:FuzzParse ./pkg/merchantapi:FuzzRequests ./pkg/merchantapi:FuzzPathID ./apid/api:FuzzForward \
	./ledgerd/store:FuzzDecodeDeposit ./ledgerd/store:FuzzDecodeAccount ./ledgerd/store:FuzzDecodeBlockStatus ./ledgerd/store:FuzzDecodeOutboxRow
FUZZTIME ?= 10m
FUZZ_PARALLEL ?= 2

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 10m) and keep what they find in testdata/fuzz (commit it)
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name in $$pkg ($(FUZZTIME))"; \
	  bash .ci/fuzz-run $$pkg $$name $(FUZZTIME) $(FUZZ_PARALLEL) || exit 1; \
	done

.PHONY: deploy-check
deploy-check: ## validate deploy/: Kubernetes manifests (strict API types), compose (compose-go), Dockerfiles, promtool on the rules and Prometheus config
	cd deploy/validate && $(GO) run . ..
	promtool check rules deploy/observability/alerts.yaml
	@tmp=$$(mktemp -d); cp deploy/observability/alerts.yaml $$tmp/; \
	  sed "s#/etc/prometheus/alerts.yaml#$$tmp/alerts.yaml#" deploy/compose/prometheus.yml > $$tmp/prometheus.yml; \
	  promtool check config $$tmp/prometheus.yml; rc=$$?; rm -rf $$tmp; exit $$rc

.PHONY: openapi-lint
openapi-lint: ## lint apid's /openapi.json with @redocly/cli (npx; also part of make test)
	$(GO) test -count=1 -run TestRedoclyLint -v ./apid/api/

.PHONY: bench
bench: ## run the benchmark suites at sizes that fit 2 cores and 24 GiB (see bench/RESULTS.md)
	$(GO) run ./bench extract
	$(GO) run ./bench bitcoin
	$(GO) run ./bench tron
	$(GO) run ./bench matcher
	$(GO) run ./bench ledger
	$(GO) run ./bench pipeline
	$(GO) run ./bench history
	$(GO) run ./bench api
	$(GO) run ./bench backfill

.PHONY: clean
clean: ## remove bin/ (./data is kept: it is your local chain and state)
	rm -rf $(BIN)
