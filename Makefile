# iginbox: build, test, run locally and deploy. `make help` lists the targets.
#
# Local tools (DynamoDB Local, fauxqs) are npm packages pinned in local/tools/package-lock.json and
# installed into local/tools/node_modules by `make tools` (needs Node.js; DynamoDB Local needs Java 17).

SHELL        := bash
.SHELLFLAGS  := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO           ?= go
TOOLS_STAMP  := local/tools/node_modules/.package-lock.json
ENV          ?= dev
SAM_DEPLOY_FLAGS ?=
FUZZTIME     ?= 15s
# Test packages run at once: the slowest packages mostly wait (visibility timeouts, a whole
# local stack's settle times), so more than one per core keeps the CPUs busy.
TEST_P       ?= 4
BENCH        ?= .
REPLAY_ARGS  ?=
LOAD_ARGS    ?=

.PHONY: help
help: ## list the targets (this text)
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):[^#]*## (.*)$$/\1\t\2/' | awk -F'\t' '{printf "  make %-13s %s\n", $$1, $$2}'

$(TOOLS_STAMP): local/tools/package.json local/tools/package-lock.json
	@echo "installing the emulators (npm ci in local/tools: DynamoDB Local, fauxqs)"
	@start=$$(date +%s); cd local/tools && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error; \
	  echo "emulators installed in $$(( $$(date +%s) - start ))s"
	@touch $@

.PHONY: tools
tools: $(TOOLS_STAMP) ## install the pinned emulators (npm ci in local/tools/)

# Every bootstrap is built by local/localrun with its deploy flags (lambda.norpc, -trimpath,
# -s -w, CGO_ENABLED=0): make build, build-lambda, coldstart, sam build, make dev, make invoke.
# The flags are defined once, one a line, in local/localrun/buildflags.txt; DEPLOY_FLAGS is
# that file shell-quoted, for the local stack's own binary.
DEPLOY_FLAGS := $(shell sed "s/.*/'&'/" local/localrun/buildflags.txt | tr '\n' ' ')
.PHONY: build
build: ## build every function of template.yaml for this machine into bin/<fn>/bootstrap
	$(GO) run ./cmd/lambdabuild -host -o bin

# sam build runs `make build-<LogicalId>` with ARTIFACTS_DIR (Metadata BuildMethod: makefile):
# one Lambda bootstrap (linux, the function's architecture) into $(ARTIFACTS_DIR)/bootstrap.
build-%:
	@if [ -z "$(ARTIFACTS_DIR)" ]; then echo "usage: make build-<LogicalId> ARTIFACTS_DIR=<dir>"; exit 2; fi
	$(GO) run ./cmd/lambdabuild -bootstrap '$(ARTIFACTS_DIR)/bootstrap' '$*'

.PHONY: build-lambda
build-lambda: ## build the deployment zips (linux, the template's architecture) into dist/<fn>.zip
	$(GO) run ./cmd/coldstart -measure=false -dist dist

.PHONY: test
test: tools ## go vet + all tests with -race against emulators started once for the run
	$(GO) vet ./...
	$(GO) run ./cmd/testenv -- $(GO) test -race -p $(TEST_P) ./...

.PHONY: test-short
test-short: tools ## like test, without the end-to-end make dev test
	$(GO) run ./cmd/testenv -- $(GO) test -race -short -p $(TEST_P) ./...

.PHONY: dev
dev: tools ## run the whole stack locally on 127.0.0.1:$PORT (default 3000) until Ctrl-C
	@echo "building the local stack (cmd/devstack, with the deploy flags: the bootstraps reuse its compiled packages)"
	@CGO_ENABLED=0 $(GO) build $(DEPLOY_FLAGS) -o .dev/bin/devstack ./cmd/devstack
	exec .dev/bin/devstack

.PHONY: lint
lint: ## gofmt check, go vet, deploy boundary (cmd/layoutcheck), cfn-lint template.yaml
	@out="$$(gofmt -l $$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './.dev/*' -not -path './.aws-sam/*'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./cmd/layoutcheck
	cfn-lint template.yaml

.PHONY: coldstart
coldstart: ## cold start of every bootstrap under the local Runtime API + zipped sizes
	$(GO) run ./cmd/coldstart -dist dist

.PHONY: bench
bench: ## benchmarks with allocations (BENCH=regexp)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

.PHONY: fuzz
fuzz: ## run every Fuzz target for FUZZTIME each (default 15s)
	@for f in $$(grep -rlE --include='*_test.go' '^func Fuzz' shared functions local cmd 2>/dev/null); do \
	  dir=$$(dirname $$f); \
	  for t in $$(grep -oE '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "fuzz ./$$dir $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$dir; \
	  done; \
	done

.PHONY: deploy
deploy: ## sam build and sam deploy --config-env ENV (ENV=dev or prod, default dev; first time SAM_DEPLOY_FLAGS=--guided)
	sam build --config-env $(ENV)
	sam deploy --config-env $(ENV) $(SAM_DEPLOY_FLAGS)

.PHONY: replay
replay: ## sign and POST recorded webhook bodies to make dev (REPLAY_ARGS="--repeat 3 --shuffle events/meta", "--help")
	INSTAGRAM_APP_SECRET="$${INSTAGRAM_APP_SECRET:-dev-app-secret}" $(GO) run ./cmd/replay \
	  --url "$${REPLAY_URL:-http://127.0.0.1:$${PORT:-3000}/webhooks/instagram}" $(or $(REPLAY_ARGS),events/meta)

.PHONY: clean
clean: ## remove build outputs (bin/ dist/ .dev/ .aws-sam/), keep tools
	rm -rf bin dist .dev .aws-sam

.PHONY: clean-tools
clean-tools: ## remove the installed emulators
	rm -rf local/tools/node_modules

# Append new targets below (give them a "## description" to list them in `make help`).

FN           ?=
EVENT        ?=
.PHONY: invoke
invoke: tools ## run one function's bootstrap with an event, like sam local invoke (FN=webhook EVENT=events/apigw/webhook-verify.json)
	@if [ -z "$(FN)" ] || [ -z "$(EVENT)" ]; then echo "usage: make invoke FN=<webhook|processor|api|oauth|refresher> EVENT=events/<file>"; \
	  echo "  FN=processor stores events only for a connected channel: run it against a running make dev (export its banner's AWS_ENDPOINT_URL_* lines)"; exit 2; fi
	$(GO) run ./cmd/invoke -fn '$(FN)' -event '$(EVENT)'

.PHONY: load
load: tools ## load test: ≥10k signed events, 500 conversations, duplicates; events/s, round trips, 0 lost/dup (LOAD_URL=, LOAD_ARGS=)
	$(GO) run ./cmd/load $(LOAD_ARGS)

.PHONY: test-stack
test-stack: tools ## only the end-to-end tests through the local stack (also part of make test)
	$(GO) test -race -count=1 -run '^(TestEndToEnd|TestDevstackServesAndStopsOnSIGINT)$$' -v ./local/devstack

COST_ARGS    ?=
.PHONY: cost
cost: tools ## DynamoDB/SQS/Lambda/HTTP API/log units per event kind and reply part, in $ at AWS list prices (COST_ARGS="-events 40 -replies 10"; docs/cost.md)
	$(GO) run ./cmd/cost $(COST_ARGS)
