# verified-proxy — the two commands: `make run` and `make test`.
# Each target installs missing Debian packages (scripts/install-deps), configures
# once, and builds incrementally with Ninja. `make install` copies the programs
# (stripped) and the systemd unit into $(DESTDIR)$(PREFIX).

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
ARGS ?=
PREFIX ?= /usr/local
DESTDIR ?=
# CI (CI=true) turns warnings into errors.
WERROR := $(if $(filter true 1,$(CI)),ON,OFF)

.PHONY: all deps configure build run test install bench fuzz tsan clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DVP_WERROR=$(WERROR)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/src/verified-proxy $(ARGS)

# Ends with one line per reason tests were skipped (e.g. no ../shared/testdata).
# CI also compiles the benchmarks (not run): `make bench` must not rot unseen.
test: build
	$(if $(filter true 1,$(CI)),cmake --build $(BUILD_DIR) -j $(JOBS) --target vp_bench)
	@scripts/run-tests $(BUILD_DIR) $(JOBS)

# The unit names $(PREFIX)/bin/verified-proxy; DESTDIR only stages the files (packaging).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR) --strip --prefix "$(PREFIX)"

# vp_bench (quote verification, GPU evidence, E2EE, in-process relay), then the network
# bench: direct vs verified-proxy vs nginx as a TLS proxy, wrk-driven; it writes
# $(BUILD_DIR)/bench/results.json. Its durations: see the VP_BENCH_* settings in bench/net_bench.py.
bench: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target vp_bench verified-proxy verified-proxy-sim
	$(BUILD_DIR)/bench/vp_bench $(ARGS)
	/usr/bin/python3 bench/net_bench.py $(BUILD_DIR)

# libFuzzer targets need clang; built in their own tree.
FUZZ_TARGETS := quote collateral report event_log policy routing http_request http_response gpu_payload nras signature sse e2ee_fields answer
fuzz: deps
	@VP_WITH_CLANG=1 scripts/install-deps
	cmake -S . -B $(BUILD_DIR)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DVP_BUILD_FUZZ=ON -DVP_BUILD_BENCH=OFF
	cmake --build $(BUILD_DIR)-fuzz -j $(JOBS) --target $(addprefix vp_fuzz_,$(FUZZ_TARGETS))
	tests/fuzz/run $(BUILD_DIR)-fuzz $(FUZZ_TARGETS)

# The threaded tests (shards, the shared attestation gate and single flight: every test
# whose name has "Threads") under ThreadSanitizer, in their own tree. Reports that are not
# ours (uninstrumented libraries) are suppressed in tests/tsan.supp, each with its reason.
TSAN_TESTS ?= Threads
tsan: deps
	cmake -S . -B $(BUILD_DIR)-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVP_SANITIZE_THREAD=ON \
	  -DVP_BUILD_BENCH=OFF
	cmake --build $(BUILD_DIR)-tsan -j $(JOBS) --target vp_threads_tests
	cd $(BUILD_DIR)-tsan && \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
	  ctest -j $(JOBS) --timeout 900 --output-on-failure -R '$(TSAN_TESTS)'

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-fuzz $(BUILD_DIR)-tsan
