#!/usr/bin/env bash
# Mutation check of the tests: every patch in tests/mutants/ breaks one guarantee of the product on
# purpose, and the tests its header names must then fail. Not part of CI (it rebuilds per patch).
#
# Usage: scripts/mutants.sh [--no-baseline] [NAME | PATH.patch ...]
#   Without names, every tests/mutants/*.patch. NAME is a patch's file name without .patch.
#   --no-baseline  skip running the named tests once without any patch first (by default they
#                  must pass there, or a mutant "caught" by them would prove nothing).
# Environment:
#   MUTANTS_DIR  scratch folder (default /tmp/anpr-mutants): a copy of the working tree (src/) and
#                its release build with tests (src/build-mutants/), kept between runs, so a run
#                rebuilds only what changed in the tree and what each patch touches (ccache is used
#                when present, with paths relative to the copy, so builds of the working tree with
#                the same options share its cache).
#   JOBS         parallel build and test jobs (default: number of cores).
#   ANPR_TEST_KAFKA  passed on to the tests: set it (scripts/kafka.sh start) for a patch whose
#                tests need Apache Kafka (tests/*_kafka_test.cpp); without it their baseline fails.
#
# A patch is a unified diff from the repository's root (as `git diff` prints it), preceded by
#   # test: <ctest -R regex naming the test(s) that must fail with the patch applied>
#   # guarantee: <one line: what the patch breaks>
# (`git apply` ignores what comes before the first "diff --git").
#
# The working tree is copied once, and the copy built whole. Then for each patch: apply it to the
# copy, build `anpr` and the test executables holding the named tests, run `ctest -R <regex>`,
# undo the patch. One line per patch:
#   caught   NAME  (REGEX)        the named tests failed
#   SURVIVED NAME  (REGEX)        they all passed: the guarantee is not tested
#   error    NAME: REASON         the patch does not apply, the build failed, no test matched, ...
# Logs are in $MUTANTS_DIR/logs/. Exits 1 if any patch survived or had an error.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${MUTANTS_DIR:-/tmp/anpr-mutants}
SRC=$WORK/src
BUILD=$SRC/build-mutants  # like build-* of the working tree: not synced, same relative paths
LOGS=$WORK/logs
JOBS=${JOBS:-$(nproc)}

baseline=1
patches=()
for a in "$@"; do
  case "$a" in
    --no-baseline) baseline=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *.patch) patches+=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")") ;;
    *) patches+=("$ROOT/tests/mutants/$a.patch") ;;
  esac
done
if [ ${#patches[@]} -eq 0 ]; then
  shopt -s nullglob
  patches=("$ROOT"/tests/mutants/*.patch)
  shopt -u nullglob
fi
if [ ${#patches[@]} -eq 0 ]; then
  echo "mutants: no patches in tests/mutants/" >&2
  exit 2
fi
mkdir -p "$SRC" "$BUILD" "$LOGS"

# The working tree into the copy, by content: files whose content did not change keep their
# time stamps (so ninja leaves them alone); changed ones are written anew (so ninja rebuilds them).
# (rsync when installed, otherwise the same in Python.)
sync_tree() {
  if command -v rsync >/dev/null; then
    rsync -rlp --checksum --delete \
      --exclude '/.git' --exclude '/build' --exclude '/build-*' --exclude '/build_*' \
      "$ROOT"/ "$SRC"/
    return
  fi
  python3 - "$ROOT" "$SRC" <<'PY'
import filecmp, os, shutil, sys
root, dst = sys.argv[1], sys.argv[2]
def skip(rel):
    top = rel.split(os.sep)[0]
    return top == ".git" or top == "build" or top.startswith("build-") or top.startswith("build_")
want = set()
for d, dirs, files in os.walk(root):
    rel_d = os.path.relpath(d, root)
    dirs[:] = [x for x in dirs if not skip(os.path.normpath(os.path.join(rel_d, x)))]
    for f in files:
        rel = os.path.normpath(os.path.join(rel_d, f))
        want.add(rel)
        src, out = os.path.join(root, rel), os.path.join(dst, rel)
        if os.path.islink(src):
            if not os.path.islink(out) or os.readlink(out) != os.readlink(src):
                if os.path.lexists(out): os.remove(out)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                os.symlink(os.readlink(src), out)
            continue
        if os.path.isfile(out) and not os.path.islink(out) and filecmp.cmp(src, out, shallow=False):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.lexists(out): os.remove(out)
        shutil.copyfile(src, out)
        shutil.copymode(src, out)
for d, dirs, files in os.walk(dst):
    rel_d = os.path.relpath(d, dst)
    dirs[:] = [x for x in dirs if not skip(os.path.normpath(os.path.join(rel_d, x)))]
    for f in files:
        rel = os.path.normpath(os.path.join(rel_d, f))
        if rel not in want: os.remove(os.path.join(d, f))
PY
}

build() {  # log file, [targets...] (default: everything)
  local log=$1; shift
  ninja -C "$BUILD" -j "$JOBS" "$@" >"$log" 2>&1
}

# The test executables that hold the tests matching a regex (as targets), and the command.
targets_of() {  # regex
  ctest --test-dir "$BUILD" --show-only=json-v1 -R "$1" 2>/dev/null | python3 -c '
import json, os, sys
names = {os.path.basename(t["command"][0]) for t in json.load(sys.stdin).get("tests", []) if t.get("command")}
print("\n".join(sorted(names)))'
  echo anpr
}

configure() {
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR=$SRC CCACHE_NOHASHDIR=1
  fi
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANPR_TESTS=ON \
    -DANPR_BENCH=OFF "${launcher[@]}" >"$LOGS/configure.log" 2>&1
}

header() {  # patch, key -> value of "# key: value"
  sed -n "s/^# $2:[[:space:]]*//p" "$1" | head -1
}

# Runs the tests matching a regex; 0 all passed, 1 some failed, 2 none matched.
run_tests() {  # regex, log
  ctest --test-dir "$BUILD" -R "$1" -j "$JOBS" --timeout 900 --output-on-failure >"$2" 2>&1
  local rc=$?
  if grep -q "No tests were found" "$2"; then return 2; fi
  [ $rc -eq 0 ] && return 0 || return 1
}

sync_tree
if ! configure; then
  echo "mutants: cmake failed, see $LOGS/configure.log" >&2
  exit 2
fi
if ! build "$LOGS/baseline.build.log"; then
  echo "mutants: the unpatched tree does not build, see $LOGS/baseline.build.log" >&2
  exit 2
fi

declare -A baseline_ok
if [ $baseline -eq 1 ]; then
  for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    regex=$(header "$p" test)
    [ -n "$regex" ] || continue
    run_tests "$regex" "$LOGS/$name.baseline.log"
    baseline_ok[$name]=$?
  done
fi

bad=0
for p in "${patches[@]}"; do
  name=$(basename "$p" .patch)
  if [ ! -f "$p" ]; then
    echo "error    $name: no such patch ($p)"; bad=1; continue
  fi
  regex=$(header "$p" test)
  if [ -z "$regex" ]; then
    echo "error    $name: no \"# test:\" line"; bad=1; continue
  fi
  if [ $baseline -eq 1 ] && [ "${baseline_ok[$name]}" != 0 ]; then
    if [ "${baseline_ok[$name]}" = 2 ]; then
      echo "error    $name: no test matches ($regex)"
    else
      echo "error    $name: its tests fail without the patch, see $LOGS/$name.baseline.log"
    fi
    bad=1; continue
  fi
  if ! (cd "$SRC" && git apply --check "$p") >"$LOGS/$name.apply.log" 2>&1; then
    echo "error    $name: patch does not apply, see $LOGS/$name.apply.log"; bad=1; continue
  fi
  mapfile -t files < <(cd "$SRC" && git apply --numstat "$p" | cut -f3-)
  mapfile -t targets < <(targets_of "$regex")
  (cd "$SRC" && git apply "$p")
  if ! build "$LOGS/$name.build.log" "${targets[@]}"; then
    echo "error    $name: build failed, see $LOGS/$name.build.log"; bad=1
  else
    run_tests "$regex" "$LOGS/$name.test.log"
    case $? in
      0) echo "SURVIVED $name  ($regex)"; bad=1 ;;
      1) echo "caught   $name  ($regex)" ;;
      *) echo "error    $name: no test matches ($regex)"; bad=1 ;;
    esac
  fi
  # Undo the patch; the restored files are newer than what was built from the patched ones, so
  # the next build compiles them again (a ccache hit).
  (cd "$SRC" && git apply -R "$p")
  (cd "$SRC" && touch -c "${files[@]}")
done
exit $bad
