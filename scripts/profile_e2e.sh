#!/usr/bin/env bash
# Where the processor's CPU goes, per stage, counted in instructions (docs/benchmarks.md, "Where
# the CPU goes"): runs `anpr bench` under callgrind (valgrind) with a small fixed load, one round,
# no latency steps, and prints instructions per read for each stage of the raw consumer and of the
# processor, measured over the same timed spans as the benchmark. Instruction counts do not
# depend on what else the machine is doing, so two runs on a busy machine compare.
#
#   scripts/profile_e2e.sh                      # 20 000 reads, 100 000 entries, build/anpr
#   scripts/profile_e2e.sh --reads 40000 --markdown
#   ANPR=other/build/anpr scripts/profile_e2e.sh
#   scripts/profile_e2e.sh -- --brokers localhost:9092 --topic-prefix bench.   # Apache Kafka
#
# Options: --reads N (default 20000), --entries N (default 100000), --out DIR (where the dumps
# are kept, default build/profile), --markdown (the table as Markdown); after `--`, options for
# `anpr bench` itself (--brokers and --topic-prefix for a cluster whose bench topics exist, see
# docs/benchmarks.md). A few minutes; the broker runs natively in its own process and is not
# counted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANPR=${ANPR:-$ROOT/build/anpr}
READS=20000
ENTRIES=100000
OUT=$ROOT/build/profile
FORMAT=
BENCH_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; BENCH_ARGS=("$@"); break ;;
    --reads) READS=$2; shift 2 ;;
    --entries) ENTRIES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --markdown) FORMAT=--markdown; shift ;;
    *) echo "profile_e2e.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "profile_e2e.sh: valgrind is missing (scripts/setup.sh installs it)" >&2; exit 2; }
[ -x "$ANPR" ] || { echo "profile_e2e.sh: $ANPR not built (ninja -C build anpr)" >&2; exit 2; }
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.out.*
echo "profile_e2e.sh: $READS reads, $ENTRIES entries under callgrind; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# The benchmark marks its timed spans for callgrind (bench/e2e/e2e_bench.cpp): dump .1 is the raw
# consumer's, dump .2 the processor's.
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$ANPR" bench --reads "$READS" --entries "$ENTRIES" --rounds 1 --no-latency --threads 2 \
  "${BENCH_ARGS[@]}" >"$OUT/bench.txt" 2>"$OUT/valgrind.txt"
RAW=$(ls "$OUT"/callgrind.out.*.1)
PROC=$(ls "$OUT"/callgrind.out.*.2)
python3 "$ROOT/bench/profile_stages.py" "$READS" "$RAW" "$PROC" $FORMAT
