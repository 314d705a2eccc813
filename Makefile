# Steward build helpers. Go is the only requirement.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DATA_DIR ?= steward-data
AGENT_DIR ?= $(DATA_DIR)/agents
LISTEN ?= :8080
AGENT_TARGETS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64
LDFLAGS_SERVER := -s -w -X github.com/steward-rmm/steward/internal/cli.Version=$(VERSION)
LDFLAGS_AGENT := -s -w -X github.com/steward-rmm/steward/internal/agent.Version=$(VERSION)
# The agent speaks HTTP/1.1 only (its WebSocket and its uploads): leaving
# net/http's HTTP/2 out takes 0.4 MB off the binary and about 0.2 MB off
# its resident memory (docs/benchmarks.md).
TAGS_AGENT := nethttpomithttp2

# What the agent is built from: its command, its own tree and the protocol
# it shares with the server (an architecture test keeps it to these), and
# the module's dependencies. Test files do not go into the binary.
AGENT_SOURCES := $(filter-out %_test.go,$(shell find cmd/steward-agent internal/agent internal/protocol -name '*.go' 2>/dev/null)) go.mod go.sum
# steward-agent-linux-amd64, steward-agent-windows-arm64.exe, ...
AGENT_BINS := $(foreach t,$(AGENT_TARGETS),$(AGENT_DIR)/steward-agent-$(subst /,-,$(t))$(if $(findstring windows,$(t)),.exe))

.PHONY: run agents build test

# Build the agent binaries the dashboard offers for download (only those
# whose sources changed since they were built), then build and run the
# server with its embedded defaults (SQLite in ./steward-data).
run: agents
	@echo "run: compiling the server (a minute on a cold build cache, seconds after)..."
	@start=$$(date +%s); CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS_SERVER)" -o bin/steward ./cmd/steward \
		&& echo "run: server built in $$(( $$(date +%s) - start ))s; starting it on $(LISTEN) (data in $(DATA_DIR))"
	@exec bin/steward serve --listen $(LISTEN) --data-dir $(DATA_DIR)

agents: $(AGENT_BINS)
	@echo "agents: $(words $(AGENT_BINS)) binaries up to date in $(AGENT_DIR)"

# One rule per binary: make rebuilds only those older than a source. The
# version stamped in is the one at build time.
$(AGENT_DIR)/steward-agent-%: $(AGENT_SOURCES)
	@mkdir -p $(AGENT_DIR)
	@target=$*; target=$${target%.exe}; os=$${target%-*}; arch=$${target#*-}; \
		echo "agents: building steward-agent for $$os/$$arch..."; start=$$(date +%s); \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -tags $(TAGS_AGENT) -ldflags "$(LDFLAGS_AGENT)" -o $@ ./cmd/steward-agent \
		&& echo "agents: steward-agent for $$os/$$arch built in $$(( $$(date +%s) - start ))s"

build: agents
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS_SERVER)" -o bin/steward ./cmd/steward

test:
	go test ./...
