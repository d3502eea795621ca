#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing Debian packages, then builds and tests
#   1. the release build (every test: `ctest -L unit`, `integration` and `browser`, and a quick
#      benchmark smoke run) on the embedded broker, then the tests labelled `kafka` and the
#      benchmark smoke run again against a one-node Apache Kafka cluster that scripts/kafka.sh
#      starts and stops (README "Building by hand"),
#   2. an ASan+UBSan build (every test),
#   3. a TSan build (the concurrent parts),
#   4. the libFuzzer targets, each for a bounded time.
# Usage: scripts/test.sh [--fast]   (--fast: release build only)
# Environment: FUZZ_SECONDS (default 30 per target), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FAST=0
[ "${1:-}" = "--fast" ] && FAST=1

scripts/setup.sh

passed=0
failed=0
failures=()

step() { printf '\n=== %s\n' "$*"; }

# ccache keyed on paths relative to the checkout: a fresh clone on a machine that built the
# project before compiles only what changed.
export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

configure() {  # dir, cmake args...
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -G Ninja "${LAUNCHER[@]}" "$@" >"$dir/configure.log" 2>&1 || {
    cat "$dir/configure.log"; return 1; }
}

run_ctest() {  # name, dir, ctest args...
  local name=$1 dir=$2; shift 2
  local log="$dir/ctest.log"
  if ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 900 "$@" 2>&1 | tee "$log"; then :; fi
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1 || true)
  if [ -z "$line" ]; then
    failed=$((failed + 1)); failures+=("$name: ctest did not run"); return
  fi
  local total fail
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  fail=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - fail))
  failed=$((failed + fail))
  [ "$fail" -eq 0 ] || failures+=("$name: $fail failed")
}

step "release build"
mkdir -p build
configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANPR_BENCH=ON -DANPR_TESTS=ON
ninja -C build -j "$JOBS"
run_ctest release build -LE '^kafka_only$'

step "Apache Kafka: the tests labelled kafka against a one-node cluster"
KAFKA_DIR=$ROOT/build/kafka-cluster
scripts/kafka.sh stop --dir "$KAFKA_DIR" >/dev/null 2>&1 || true
rm -rf "$KAFKA_DIR"
trap 'scripts/kafka.sh stop --dir "$KAFKA_DIR" >/dev/null 2>&1 || true' EXIT
if KAFKA=$(scripts/kafka.sh start --dir "$KAFKA_DIR"); then
  ANPR_TEST_KAFKA=$KAFKA run_ctest kafka build -L '^kafka$'
  step "end-to-end benchmark smoke run on Apache Kafka: anpr bench --quick --brokers (figures are printed, not asserted)"
  bench_ok=1
  for t in reads hits lat.reads lat.hits; do
    scripts/kafka.sh topics --dir "$KAFKA_DIR" --create --if-not-exists --topic "bench.$t" \
      --partitions 32 --replication-factor 1 >>build/bench-kafka.log 2>&1 || bench_ok=0
  done
  if [ "$bench_ok" = 1 ] && build/anpr bench --quick --brokers "$KAFKA" --topic-prefix bench. \
       --json build/bench-kafka.json >>build/bench-kafka.log 2>&1; then
    grep -v '^\[bench\]' build/bench-kafka.log | tail -n 20
    passed=$((passed + 1))
  else
    tail -n 40 build/bench-kafka.log
    failed=$((failed + 1)); failures+=("end-to-end benchmark smoke run on Apache Kafka")
  fi
  scripts/kafka.sh stop --dir "$KAFKA_DIR" || true
  # A three-node cluster of ClusterFaults left running by a test that was killed (timeout).
  pkill -KILL -f 'kafka\.Kafka .*/anpr-cluster-faults-' 2>/dev/null || true
else
  failed=$((failed + 1)); failures+=("Apache Kafka did not start (scripts/kafka.sh start)")
fi

step "benchmark smoke run (figures are printed, not asserted)"
if ANPR_BENCH_QUICK=1 build/bench/match_bench --benchmark_min_time=0.05 >build/bench-smoke.log 2>&1 &&
   build/bench/decode_bench --benchmark_min_time=0.1 >>build/bench-smoke.log 2>&1; then
  tail -n 28 build/bench-smoke.log
  passed=$((passed + 1))
else
  tail -n 40 build/bench-smoke.log
  failed=$((failed + 1)); failures+=("benchmark smoke run")
fi

step "end-to-end benchmark smoke run: anpr bench --quick (figures are printed, not asserted)"
if build/anpr bench --quick --json build/bench-quick.json >build/bench-quick.log 2>&1; then
  grep -v '^\[bench\]' build/bench-quick.log | tail -n 20
  passed=$((passed + 1))
else
  tail -n 40 build/bench-quick.log
  failed=$((failed + 1)); failures+=("end-to-end benchmark smoke run")
fi

step "list load benchmark smoke run (figures are printed, not asserted)"
if build/bench/lists_bench --rows 200000 >build/lists-bench-smoke.log 2>&1; then
  cat build/lists-bench-smoke.log
  passed=$((passed + 1))
else
  tail -n 40 build/lists-bench-smoke.log
  failed=$((failed + 1)); failures+=("list load benchmark smoke run")
fi

if [ "$FAST" -eq 0 ]; then
  step "ASan+UBSan build"
  mkdir -p build-asan
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DANPR_SANITIZE=address -DANPR_BENCH=OFF
  ninja -C build-asan -j "$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest asan build-asan -LE '^kafka_only$'

  step "TSan build (concurrent parts)"
  mkdir -p build-tsan
  configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DANPR_SANITIZE=thread -DANPR_BENCH=OFF
  # The unit tests of the files with concurrent code, chosen by their per-file ctest labels
  # (tests/CMakeLists.txt); only their executable is built.
  ninja -C build-tsan -j "$JOBS" unit_tests
  TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp halt_on_error=1" \
    run_ctest tsan build-tsan \
    -L '^(live_index_test|offset_tracker_test|hit_feed_test|metrics_test|log_test|list_registry_test|retention_store_test|mutex_test|audit_test|http_edge_test|tokens_test)$'

  step "fuzzing (${FUZZ_SECONDS}s per target)"
  mkdir -p build-fuzz
  configure build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DANPR_FUZZ=ON -DANPR_TESTS=OFF -DANPR_BENCH=OFF
  ninja -C build-fuzz -j "$JOBS"
  for f in build-fuzz/fuzz/*_fuzz; do
    name=$(basename "$f")
    corpus="build-fuzz/corpus/$name"
    mkdir -p "$corpus"
    seeds=()
    [ -d "fuzz/seeds/$name" ] && seeds=("fuzz/seeds/$name")
    if "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=4096 -print_final_stats=0 \
         "$corpus" "${seeds[@]}" >"build-fuzz/$name.log" 2>&1; then
      echo "$name: $(grep -Eo 'Done [0-9]+ runs' "build-fuzz/$name.log" | tail -1)"
      passed=$((passed + 1))
    else
      tail -n 40 "build-fuzz/$name.log"
      failed=$((failed + 1)); failures+=("fuzzer $name")
    fi
  done
fi

step "summary"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
