#!/usr/bin/env bash
# A local Apache Kafka 4.x cluster on loopback, for tests, benchmarks and engineers (docs/kafka.md).
#
#   scripts/kafka.sh fetch                     the server jars, once, into the cache folder
#   scripts/kafka.sh start [--nodes 1|3] [--dir DIR] [--port BASE] [--heap SIZE] [--timeout S]
#                                              formats and starts a fresh KRaft cluster; prints
#                                              the bootstrap servers, its only line on stdout
#   scripts/kafka.sh start --node N[,M...] [--dir DIR]
#                                              starts stopped nodes of that cluster again (their
#                                              data kept); `--node 1,2,3` after a whole-cluster stop
#   scripts/kafka.sh stop [--dir DIR] [--node N] [--kill] [--timeout S]
#                                              SIGTERM, SIGKILL after the timeout (or at once
#                                              with --kill); every node, or node N only
#   scripts/kafka.sh status [--dir DIR]        one line per node; exit 0 when all nodes run
#   scripts/kafka.sh bootstrap [--dir DIR]     the bootstrap servers of the cluster in DIR
#   scripts/kafka.sh topics [--dir DIR] ARGS   Kafka's kafka-topics (--bootstrap-server added)
#   scripts/kafka.sh selftest                  1 node in a temporary folder, 100 messages through
#                                              kcat, stop, clean up; exit 0 when they all came back
#
# The jars come from Maven Central through scripts/kafka/pom.xml into
# $ANPR_KAFKA_HOME (default ${XDG_CACHE_HOME:-~/.cache}/anpr/kafka-<version>), never into the
# repository. DIR defaults to $ANPR_KAFKA_DIR, else ${TMPDIR:-/tmp}/anpr-kafka. Node N (1-based)
# listens on 127.0.0.1:BASE+2(N-1) (clients) and BASE+2(N-1)+1 (controller); without --port a
# free range is chosen. Each node is one JVM (`java kafka.Kafka`), broker and controller in one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
POM="$ROOT/scripts/kafka/pom.xml"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
KAFKA_HOME="${ANPR_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/anpr/kafka-$KAFKA_VERSION}"
DEFAULT_DIR="${ANPR_KAFKA_DIR:-${TMPDIR:-/tmp}/anpr-kafka}"
MARKER=cluster.env   # in DIR: what start wrote; the only DIR start will wipe has one

say() { echo "kafka: $*" >&2; }
die() { echo "kafka: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

# --- fetch -----------------------------------------------------------------------------------

# The jars in $KAFKA_HOME/libs. Quiet and quick when they are there (the pom they came from is
# kept beside them: another pom fetches again).
fetch() {
  if [ -f "$KAFKA_HOME/libs/.complete" ] && cmp -s "$POM" "$KAFKA_HOME/pom.xml"; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (scripts/setup.sh installs Maven)"
  mkdir -p "$(dirname "$KAFKA_HOME")"
  exec 9>"$KAFKA_HOME.lock"
  flock 9   # another fetch at the same time: wait for it, then find the jars there
  if [ -f "$KAFKA_HOME/libs/.complete" ] && cmp -s "$POM" "$KAFKA_HOME/pom.xml"; then
    exec 9>&-; return 0
  fi
  say "fetching the Apache Kafka $KAFKA_VERSION server jars into $KAFKA_HOME (once)"
  local tmp="$KAFKA_HOME.tmp.$$" log
  rm -rf "$tmp"; mkdir -p "$tmp/libs"
  log=$(mktemp)
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
       -DoutputDirectory="$tmp/libs" >"$log" 2>&1; then
    cat "$log" >&2; rm -rf "$tmp" "$log"
    die "could not fetch the Kafka jars (Maven above)"
  fi
  rm -f "$log"
  ls "$tmp/libs"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "Maven brought no kafka_2.13 jar"; }
  cp "$POM" "$tmp/pom.xml"
  touch "$tmp/libs/.complete"
  rm -rf "$KAFKA_HOME"; mv "$tmp" "$KAFKA_HOME"
  exec 9>&-
  say "Apache Kafka $KAFKA_VERSION: $(du -sh "$KAFKA_HOME" | cut -f1) in $KAFKA_HOME"
}

java_bin() {
  local j="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$j" >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs Java 17+; scripts/setup.sh installs it)"
  local v
  v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ "${v:-0}" -ge 17 ] || die "Kafka $KAFKA_VERSION brokers need Java 17 or newer; $j is Java ${v:-?}"
  echo "$j"
}

# --- helpers ---------------------------------------------------------------------------------

# Listening TCP ports on this machine, one per line, from /proc (no ss/netstat needed).
listening_ports() {
  local h
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" { split($2, a, ":"); print a[2] }' |
    while read -r h; do echo $((16#$h)); done | sort -u
}

# A base port with 2*nodes free ports above it, in 20000..32000 (below Linux's ephemeral range).
free_base() {
  local n=$1 used base i ok
  used=" $(listening_ports | tr '\n' ' ') "
  for _ in $(seq 1 50); do
    base=$((20000 + (RANDOM % 6000) * 2))
    ok=1
    for ((i = 0; i < 2 * n; i++)); do
      case "$used" in *" $((base + i)) "*) ok=0; break ;; esac
    done
    [ $ok = 1 ] && { echo $base; return 0; }
  done
  die "found no $((2 * n)) free ports in 20000..32000"
}

# A Kafka cluster id: 16 random bytes, base64url without padding, not starting with '-'.
cluster_id() {
  local id
  while :; do
    id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    case "$id" in -*) ;; *) echo "$id"; return ;; esac
  done
}

load_cluster() {  # DIR -> NODES BASE BOOTSTRAP ... from DIR/cluster.env
  [ -f "$1/$MARKER" ] || die "no cluster in $1 (start one with: scripts/kafka.sh start --dir $1)"
  # shellcheck disable=SC1090
  . "$1/$MARKER"
}

# The pid of node N in DIR when its JVM runs, else nothing (a pid file whose process is gone or
# is another program now does not count).
node_pid() {
  local dir=$1 n=$2 pid
  pid=$(cat "$dir/node-$n/pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $dir/node-$n/server.properties" && echo "$pid"
  return 0
}

broker_port() { echo $(($1 + 2 * ($2 - 1))); }
controller_port() { echo $(($1 + 2 * ($2 - 1) + 1)); }

write_config() {  # DIR NODES BASE N
  local dir=$1 nodes=$2 base=$3 n=$4 rf isr voters="" i
  rf=$((nodes < 3 ? nodes : 3))
  isr=$((rf < 2 ? 1 : 2))
  for ((i = 1; i <= nodes; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$base" $i)"
  done
  cat >"$dir/node-$n/server.properties" <<EOF
# Written by scripts/kafka.sh: node $n of $nodes, KRaft, broker and controller in one process.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$base" "$n"),CONTROLLER://127.0.0.1:$(controller_port "$base" "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$base" "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/node-$n/data

# Topics: created on first use like the embedded broker's (4 partitions), or by anpr topics apply.
auto.create.topics.enable=true
num.partitions=4
default.replication.factor=$rf
min.insync.replicas=$isr
unclean.leader.election.enable=false

# Internal topics, sized for a test cluster.
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr

# Test pace: no wait for more members before the first rebalance; retention and compaction
# looked at every 10 s instead of every 5 min / 15 s.
group.initial.rebalance.delay.ms=0
log.retention.check.interval.ms=10000
log.cleaner.backoff.ms=1000
EOF
}

write_log4j() {  # DIR
  cat >"$1/log4j2.properties" <<'EOF'
# Written by scripts/kafka.sh: each node logs to its own logs/server.log (kafka.logs.dir).
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

launch_node() {  # DIR N HEAP
  local dir=$1 n=$2 heap=$3 java
  java=$(java_bin)
  mkdir -p "$dir/node-$n/logs"
  # Detached (own session, no terminal, every stream in a file): a caller reading our stdout
  # through a pipe is not held open by the JVM, and a Ctrl-C in the caller's terminal does not
  # reach it. `stop` ends it. The shell writes its own pid, which exec hands to the JVM.
  rm -f "$dir/node-$n/pid"
  [ -f "$dir/node-$n/logs/server.log" ] && mv "$dir/node-$n/logs/server.log" "$dir/node-$n/logs/server.log.prev"
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$dir/node-$n/pid" \
    "$java" -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir/node-$n/logs" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/node-$n/server.properties" \
    </dev/null >"$dir/node-$n/logs/stdout.log" 2>&1 &
  local i
  for i in $(seq 1 50); do [ -s "$dir/node-$n/pid" ] && return 0; sleep 0.1; done
  die "node $n: no pid file after 5 s"
}

log_tail() {  # DIR N: the last lines of a node's logs, on stderr
  local f
  for f in "$1/node-$2/logs/stdout.log" "$1/node-$2/logs/server.log"; do
    [ -s "$f" ] || continue
    echo "---- $f (last 25 lines)" >&2
    tail -n 25 "$f" >&2
  done
}

# The number of brokers the cluster at BOOTSTRAP reports (0 when it does not answer).
brokers_up() {
  timeout 10 kcat -L -b "$1" -m 3 2>/dev/null | sed -n 's/^ \([0-9][0-9]*\) brokers:$/\1/p' | head -1 || true
}

# Waits until each of the NODE... just launched has logged its start (which tells our JVM from
# another program on the same port) and as many brokers answer at BOOTSTRAP as nodes of DIR run;
# 1 when one of them died or the time ran out.
wait_up() {  # DIR BOOTSTRAP TIMEOUT NODE...
  local dir=$1 bootstrap=$2 timeout=$3 end n up started running
  shift 3
  end=$((SECONDS + timeout))
  while :; do
    started=0
    for n in "$@"; do
      if [ -z "$(node_pid "$dir" "$n")" ]; then
        say "node $n exited during start"; log_tail "$dir" "$n"; return 1
      fi
      grep -qs "nodeId=$n\] Kafka Server started" "$dir/node-$n/logs/server.log" && started=$((started + 1))
    done
    running=0
    for n in "$dir"/node-*; do [ -n "$(node_pid "$dir" "${n##*-}")" ] && running=$((running + 1)); done
    up=0
    [ $started -eq $# ] && up=$(brokers_up "$bootstrap")
    [ "${up:-0}" -ge $running ] && [ $started -eq $# ] && return 0
    if [ $SECONDS -ge $end ]; then
      say "the cluster did not answer within $timeout s (${up:-0} of $running brokers answer)"
      for n in "$@"; do log_tail "$dir" "$n"; done
      return 1
    fi
    sleep 0.3
  done
}

stop_nodes() {  # DIR TIMEOUT KILL NODE...
  local dir=$1 timeout=$2 kill=$3 n pid end left
  shift 3
  local pids=()
  for n in "$@"; do
    pid=$(node_pid "$dir" "$n")
    if [ -n "$pid" ]; then
      pids+=("$pid")
      if [ "$kill" = 1 ]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    fi
  done
  end=$((SECONDS + timeout))
  while :; do
    left=()
    for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    if [ $SECONDS -ge $end ]; then
      say "SIGKILL to ${left[*]} (no exit $timeout s after SIGTERM)"
      for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
      sleep 0.5
      end=$((SECONDS + 10))
      timeout=10
      continue
    fi
    sleep 0.2
  done
  for n in "$@"; do rm -f "$dir/node-$n/pid"; done
}

# --- commands --------------------------------------------------------------------------------

cmd_start() {
  local nodes=1 dir=$DEFAULT_DIR base="" heap=512m timeout=120 node="" attempt n rc
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes=$2; shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --port) base=$2; shift 2 ;;
      --heap) heap=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --node) node=$2; shift 2 ;;
      *) die "start: unknown option '$1' (see scripts/kafka.sh --help)" ;;
    esac
  done
  case "$nodes" in 1 | 3) ;; *) die "start: --nodes is 1 or 3" ;; esac
  fetch
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)

  if [ -n "$node" ]; then  # nodes of an existing cluster again
    load_cluster "$dir"
    local list=()
    IFS=, read -ra list <<<"$node"
    for n in "${list[@]}"; do
      [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$NODES" ] || die "start: --node is 1..$NODES (or a comma list)"
      [ -z "$(node_pid "$dir" "$n")" ] || die "start: node $n in $dir runs already"
    done
    # Together: a three-node quorum needs two controllers before any node answers.
    for n in "${list[@]}"; do launch_node "$dir" "$n" "$HEAP"; done
    wait_up "$dir" "$BOOTSTRAP" "$timeout" "${list[@]}" || exit 1
    echo "$BOOTSTRAP"
    return
  fi

  if [ -f "$dir/$MARKER" ]; then
    for ((n = 1; n <= 3; n++)); do
      [ -z "$(node_pid "$dir" $n)" ] || die "start: a cluster runs in $dir already (scripts/kafka.sh stop --dir $dir)"
    done
    rm -rf "${dir:?}"/node-* "${dir:?}/$MARKER" "${dir:?}/log4j2.properties"   # what an earlier start wrote
  elif [ -n "$(ls -A "$dir")" ]; then
    die "start: $dir is not empty and holds no cluster of scripts/kafka.sh; choose another --dir"
  fi

  local t0ns
  t0ns=$(date +%s%N)
  if [ -n "$base" ]; then
    local used
    used=" $(listening_ports | tr '\n' ' ') "
    for ((n = 0; n < 2 * nodes; n++)); do
      case "$used" in *" $((base + n)) "*) die "start: port $((base + n)) is in use (--port $base needs $((2 * nodes)) free ports from $base on)" ;; esac
    done
  fi
  for attempt in 1 2 3; do
    local b=${base:-$(free_base "$nodes")}
    local cid bootstrap=""
    cid=$(cluster_id)
    for ((n = 1; n <= nodes; n++)); do bootstrap+="${bootstrap:+,}127.0.0.1:$(broker_port "$b" $n)"; done
    rm -rf "${dir:?}"/node-*
    write_log4j "$dir"
    cat >"$dir/$MARKER" <<EOF
NODES=$nodes
BASE=$b
BOOTSTRAP=$bootstrap
CLUSTER_ID=$cid
HEAP=$heap
KAFKA_VERSION=$KAFKA_VERSION
EOF
    local java fmt=()
    java=$(java_bin)
    for ((n = 1; n <= nodes; n++)); do   # the nodes' storage, formatted in parallel
      mkdir -p "$dir/node-$n/logs"
      write_config "$dir" "$nodes" "$b" $n
      "$java" -Xmx256m -XX:TieredStopAtLevel=1 -Dkafka.logs.dir="$dir/node-$n/logs" \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$KAFKA_HOME/libs/*" \
        kafka.tools.StorageTool format -t "$cid" -c "$dir/node-$n/server.properties" \
        </dev/null >"$dir/node-$n/logs/format.log" 2>&1 &
      fmt+=($!)
    done
    for ((n = 1; n <= nodes; n++)); do
      if ! wait "${fmt[$((n - 1))]}"; then
        cat "$dir/node-$n/logs/format.log" >&2
        die "start: formatting node $n's storage failed"
      fi
    done
    for ((n = 1; n <= nodes; n++)); do launch_node "$dir" $n "$heap"; done
    if wait_up "$dir" "$bootstrap" "$timeout" $(seq 1 "$nodes"); then
      say "$nodes node(s) of Apache Kafka $KAFKA_VERSION up in $(( ($(date +%s%N) - t0ns) / 1000000 )) ms; data and logs in $dir"
      echo "$bootstrap"
      return 0
    fi
    rc=1
    stop_nodes "$dir" 10 1 $(seq 1 "$nodes")
    # A port taken between our look and the JVM's bind: another range, when we chose it.
    if [ -z "$base" ] && grep -qs "Address already in use" "$dir"/node-*/logs/*.log && [ $attempt -lt 3 ]; then
      say "a port was taken meanwhile; trying another range"
      continue
    fi
    exit $rc
  done
}

cmd_stop() {
  local dir=$DEFAULT_DIR timeout=30 kill=0 node=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --kill) kill=1; shift ;;
      --node) node=$2; shift 2 ;;
      *) die "stop: unknown option '$1' (see scripts/kafka.sh --help)" ;;
    esac
  done
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/$MARKER" ] || return 0   # nothing was started there
  load_cluster "$dir"
  if [ -n "$node" ]; then
    stop_nodes "$dir" "$timeout" "$kill" "$node"
  else
    stop_nodes "$dir" "$timeout" "$kill" $(seq 1 "$NODES")
  fi
}

cmd_status() {
  local dir=$DEFAULT_DIR n pid running=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      *) die "status: unknown option '$1'" ;;
    esac
  done
  [ -d "$dir" ] && dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/$MARKER" ]; then echo "no cluster in $dir"; return 3; fi
  load_cluster "$dir"
  echo "Apache Kafka $KAFKA_VERSION, $NODES node(s), cluster $CLUSTER_ID, bootstrap $BOOTSTRAP, data in $dir"
  for ((n = 1; n <= NODES; n++)); do
    pid=$(node_pid "$dir" $n)
    if [ -n "$pid" ]; then
      running=$((running + 1))
      echo "node $n: running (pid $pid), 127.0.0.1:$(broker_port "$BASE" $n), controller 127.0.0.1:$(controller_port "$BASE" $n)"
    else
      echo "node $n: stopped"
    fi
  done
  echo "brokers answering: $(brokers_up "$BOOTSTRAP" | grep . || echo 0)"
  [ $running -eq "$NODES" ] && return 0
  [ $running -eq 0 ] && return 3
  return 1
}

cmd_bootstrap() {
  local dir=$DEFAULT_DIR
  [ "${1:-}" = --dir ] && dir=$2
  load_cluster "$dir"
  echo "$BOOTSTRAP"
}

cmd_topics() {
  local dir=$DEFAULT_DIR
  if [ "${1:-}" = --dir ]; then dir=$2; shift 2; fi
  load_cluster "$dir"
  fetch
  "$(java_bin)" -Xmx256m -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2-tools.properties" \
    -cp "$KAFKA_HOME/libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"
}

cmd_selftest() {
  local dir bootstrap got want n=100
  fetch
  dir=$(mktemp -d "${TMPDIR:-/tmp}/anpr-kafka-selftest.XXXXXX")
  # shellcheck disable=SC2064
  trap "'$ROOT/scripts/kafka.sh' stop --dir '$dir' --timeout 15 >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
  if ! bootstrap=$("$ROOT/scripts/kafka.sh" start --nodes 1 --dir "$dir"); then
    echo "kafka selftest: FAILED: the node did not start" >&2
    return 1
  fi
  want=$(seq 1 $n | sed 's/^/selftest-/')
  if ! echo "$want" | timeout 60 kcat -P -b "$bootstrap" -t selftest -X acks=all; then
    echo "kafka selftest: FAILED: kcat -P to $bootstrap" >&2
    return 1
  fi
  got=$(timeout 60 kcat -C -b "$bootstrap" -t selftest -o beginning -c $n -q 2>&1 || true)
  if [ "$(sort <<<"$got")" != "$(sort <<<"$want")" ]; then
    echo "kafka selftest: FAILED: $(grep -c . <<<"$got") of $n messages came back from $bootstrap" >&2
    head -5 <<<"$got" >&2
    return 1
  fi
  echo "kafka selftest: passed ($n messages through Apache Kafka $KAFKA_VERSION at $bootstrap)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  fetch) fetch ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  bootstrap) cmd_bootstrap "$@" ;;
  topics) cmd_topics "$@" ;;
  selftest) cmd_selftest ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
