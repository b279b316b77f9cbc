# limahost-agent: the two commands a newcomer runs are `make demo` and `make test`.
SWIFT ?= swift
TEST_USER ?= limahost-test

.PHONY: build release test demo lint format test-user clean

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build -c release --product limahost-agent

# Lima refuses root, so tests that run limactl as an unprivileged user need one.
test-user:
	@if [ "$$(id -u)" = "0" ] && ! id -u $(TEST_USER) >/dev/null 2>&1; then \
		useradd --system --create-home --shell /bin/sh $(TEST_USER); fi

test: test-user build
	LIMAHOST_TEST_USER=$(TEST_USER) $(SWIFT) test --skip-build

demo: build
	./scripts/demo.sh

lint:
	$(SWIFT) format lint --strict -r --configuration .swift-format Package.swift Sources Tests

format:
	$(SWIFT) format format -i -r --configuration .swift-format Package.swift Sources Tests

clean:
	rm -rf .build
