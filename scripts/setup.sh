#!/usr/bin/env bash
# Installs the Debian packages the product needs to build, test and run, and fetches the Apache
# Kafka server jars once into a cache folder outside the repository (scripts/kafka.sh fetch).
# Idempotent: installs only what is missing; does nothing when all are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  ccache                              # rebuilds of a fresh clone on the same machine hit the cache
  clang libclang-rt-14-dev            # sanitizers and libFuzzer with clang
  librdkafka-dev                      # Kafka client and the embedded test broker
  libtbb-dev                          # parallel pipeline, parallel sort
  libopencv-dev                       # plate images
  opencv-data                         # face cascades for blurring overview images
  prometheus-cpp-dev                  # metrics
  libbenchmark-dev libgtest-dev libgmock-dev
  libsimdjson-dev                     # event decoding without allocation storms
  libtomlplusplus-dev                 # list sidecars and the config file
  libcli11-dev                        # command line
  libcpp-httplib-dev                  # the commands' HTTP client (anpr lists, anpr search), tests
  libboost-dev libssl-dev             # the HTTP server (Boost.Beast, Asio), HTTPS, token hashing
  zlib1g-dev                          # tests: a gzip request body
  openssl                             # test certificates for the HTTPS test
  kcat                                # independent Kafka client used by the tests
  openjdk-17-jre-headless maven       # Apache Kafka 4.x on loopback (scripts/kafka.sh, docs/kafka.md)
  chromium                            # headless browser for the pages' tests (Playwright)
  prometheus                          # promtool: the tests check /metrics with Prometheus' own linter
  valgrind                            # callgrind: the per-stage instruction profile (scripts/profile_e2e.sh)
)
ROOT=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js runs KafkaJS, the second independent Kafka client of the tests (tests/js).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

fetch_kafka() {  # quiet and quick when the jars are cached
  # No test needs Apache Kafka yet (docs/kafka.md), so a failed download is a warning, not a stop.
  "$ROOT/scripts/kafka.sh" fetch ||
    echo "setup: warning: could not fetch Apache Kafka; scripts/kafka.sh fetch tries again" >&2
}

install_js() {  # the tests' npm packages, pinned by tests/js/package-lock.json
  local m="$ROOT/tests/js/node_modules"
  # Again when a package is missing or the lock file changed since the last install.
  if [ ! -f "$m/kafkajs/package.json" ] || [ ! -f "$m/playwright-core/package.json" ] ||
     [ "$ROOT/tests/js/package-lock.json" -nt "$m/.package-lock.json" ]; then
    echo "setup: installing the tests' npm packages" >&2
    (cd "$ROOT/tests/js" && npm ci --no-audit --no-fund --silent)
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  install_js
  fetch_kafka
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_js
fetch_kafka
echo "setup: done" >&2
