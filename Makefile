# Steward build helpers. Go is the only requirement.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DATA_DIR ?= steward-data
AGENT_DIR ?= $(DATA_DIR)/agents
AGENT_TARGETS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64
LDFLAGS_SERVER := -s -w -X github.com/steward-rmm/steward/internal/cli.Version=$(VERSION)
LDFLAGS_AGENT := -s -w -X github.com/steward-rmm/steward/internal/agent.Version=$(VERSION)
# The agent speaks HTTP/1.1 only (its WebSocket and its uploads): leaving
# net/http's HTTP/2 out takes 0.4 MB off the binary and off its resident
# memory (docs/benchmarks.md).
TAGS_AGENT := nethttpomithttp2

.PHONY: run agents build test

# Build the agent binaries the dashboard offers for download, then run the
# server with its embedded defaults (SQLite in ./steward-data).
run: agents
	go run -ldflags "$(LDFLAGS_SERVER)" ./cmd/steward serve --data-dir $(DATA_DIR)

agents:
	@mkdir -p $(AGENT_DIR)
	@for t in $(AGENT_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "building steward-agent for $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -tags $(TAGS_AGENT) -ldflags "$(LDFLAGS_AGENT)" \
			-o $(AGENT_DIR)/steward-agent-$$os-$$arch$$ext ./cmd/steward-agent || exit 1; \
	done

build: agents
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS_SERVER)" -o bin/steward ./cmd/steward

test:
	go test ./...
