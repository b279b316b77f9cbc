# limahost-agent: the two commands a newcomer runs are `make demo` and `make test`.
SWIFT ?= swift
DEV_USER ?= limahost-dev

.PHONY: build release test demo bench lint format dev-user clean install-service uninstall-service

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build -c release --product limahost-agent

# Lima refuses root, so tests that run limactl as an unprivileged user need one.
dev-user:
	@if [ "$$(id -u)" = "0" ] && ! id -u $(DEV_USER) >/dev/null 2>&1; then \
		useradd --system --create-home --shell /bin/sh $(DEV_USER); fi

test: dev-user build
	LIMAHOST_DEV_USER=$(DEV_USER) $(SWIFT) test --skip-build

demo: dev-user build
	LIMAHOST_DEV_USER=$(DEV_USER) ./scripts/demo.sh

# Benchmarks (benchmarks/run.py): release binaries, about 18 minutes; writes docs/performance.md.
bench: dev-user
	$(SWIFT) build -c release --product limahost-agent
	$(SWIFT) build -c release --product limahost-refcp
	$(SWIFT) build -c release --product limactl-standin
	LIMAHOST_DEV_USER=$(DEV_USER) python3 benchmarks/run.py $(BENCH_ARGS)

lint:
	$(SWIFT) format lint --strict -r --configuration .swift-format Package.swift Sources Tests

format:
	$(SWIFT) format format -i -r --configuration .swift-format Package.swift Sources Tests

# Install as a systemd service (DESTDIR, PREFIX, AGENT_BIN, CA_FILE: see the script).
install-service:
	./scripts/install-service.sh

# Remove it; configuration, state, VMs and logs stay unless PURGE=1.
uninstall-service:
	./scripts/uninstall-service.sh

clean:
	rm -rf .build
