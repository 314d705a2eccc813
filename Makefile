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
# No inlining (-l) in any package: the agent's code is 0.5 MB smaller
# (linux/amd64 7.51 -> 6.99 MB) and its resident memory no larger; the
# agent waits on the network almost all the time, so the calls inlining
# saves do not show in its CPU use (docs/benchmarks.md).
GCFLAGS_AGENT := all=-l

# What the agent is built from: its command, its own tree and the protocol
# it shares with the server (an architecture test keeps it to these), and
# the module's dependencies. Test files do not go into the binary.
AGENT_SOURCES := $(filter-out %_test.go,$(shell find cmd/steward-agent internal/agent internal/protocol -name '*.go' 2>/dev/null)) go.mod go.sum
# steward-agent-linux-amd64, steward-agent-windows-arm64.exe, ...
AGENT_BINS := $(foreach t,$(AGENT_TARGETS),$(AGENT_DIR)/steward-agent-$(subst /,-,$(t))$(if $(findstring windows,$(t)),.exe))

# The installers `make packages` builds beside the binaries, from them:
# MSIs (x64, arm64), .deb and .rpm (amd64, arm64), and SHA256SUMS over
# every download. bin/steward-package builds them (wixl, msitools and
# osslsigncode from Debian for the MSI); it signs the Windows binary and the
# MSIs when STEWARD_SIGN_CERT/STEWARD_SIGN_KEY or STEWARD_SIGN_PKCS12 (and
# STEWARD_SIGN_PASSWORD) are set (docs/installers.md).
PACKAGER := bin/steward-package
PACKAGER_SOURCES := $(filter-out %_test.go,$(shell find cmd/steward-package packaging -type f 2>/dev/null)) go.mod go.sum
PACKAGES := $(AGENT_DIR)/steward-agent-windows-amd64.msi $(AGENT_DIR)/steward-agent-windows-arm64.msi \
	$(foreach a,amd64 arm64,$(AGENT_DIR)/steward-agent-linux-$(a).deb $(AGENT_DIR)/steward-agent-linux-$(a).rpm)

.PHONY: run agents build test packages release

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
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -tags $(TAGS_AGENT) -gcflags "$(GCFLAGS_AGENT)" -ldflags "$(LDFLAGS_AGENT)" -o $@ ./cmd/steward-agent \
		&& echo "agents: steward-agent for $$os/$$arch built in $$(( $$(date +%s) - start ))s"

packages: $(AGENT_DIR)/SHA256SUMS
	@echo "packages: $(words $(PACKAGES)) installers and SHA256SUMS up to date in $(AGENT_DIR)"

$(PACKAGER): $(PACKAGER_SOURCES)
	@mkdir -p bin
	CGO_ENABLED=0 go build -trimpath -o $@ ./cmd/steward-package

# Each package is rebuilt only when its binary or the packager changed.
# The MSI's architecture is named x64 where Go says amd64.
$(AGENT_DIR)/steward-agent-windows-%.msi: $(AGENT_DIR)/steward-agent-windows-%.exe $(PACKAGER)
	@arch=$*; [ "$$arch" = amd64 ] && arch=x64; \
		$(PACKAGER) msi --exe $< --arch $$arch --version $(VERSION) --out $@

$(AGENT_DIR)/steward-agent-linux-%.deb: $(AGENT_DIR)/steward-agent-linux-% $(PACKAGER)
	@$(PACKAGER) deb --bin $< --arch $* --version $(VERSION) --out $@

$(AGENT_DIR)/steward-agent-linux-%.rpm: $(AGENT_DIR)/steward-agent-linux-% $(PACKAGER)
	@$(PACKAGER) rpm --bin $< --arch $* --version $(VERSION) --out $@

$(AGENT_DIR)/SHA256SUMS: $(AGENT_BINS) $(PACKAGES) $(PACKAGER)
	@$(PACKAGER) sums $(AGENT_DIR)

# A release in one step: `make release VERSION=1.4.0 KEY=path/release.key`
# builds the six agents with the version and keys stamped in, signs them,
# builds the installers and SHA256SUMS into dist/VERSION, and publishes to
# SERVER (API token in TOKEN_FILE or STEWARD_TOKEN) or, without SERVER, to
# the database STEWARD_DATA_DIR/STEWARD_DATABASE_URL names (nowhere when
# neither is set). VERSION defaults to the git tag, only when HEAD is a
# clean commit tagged with a semantic version (the describe default above
# is not passed on). EMBED_KEYS: more public key files to embed.
release:
	@test -n "$(KEY)" || { echo "release: KEY=path/to/release.key is required (steward release keygen)"; exit 2; }
	@mkdir -p bin
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS_SERVER)" -o bin/steward ./cmd/steward
	bin/steward release build --key $(KEY) \
		$(if $(filter command line environment,$(origin VERSION)),--version $(VERSION)) \
		$(if $(CHANNEL),--channel $(CHANNEL)) $(if $(OUT),--out $(OUT)) \
		$(if $(SERVER),--server $(SERVER)) $(if $(TOKEN_FILE),--token-file $(TOKEN_FILE)) \
		$(foreach k,$(EMBED_KEYS),--embed-key $(k))

build: agents
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS_SERVER)" -o bin/steward ./cmd/steward

test:
	go test ./...
