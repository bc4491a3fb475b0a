#!/usr/bin/env bash
# Real servers for the integration tests (npm run test:integration), without Docker:
#   - Apache Kafka, one node in KRaft mode (broker and controller), from Maven Central jars
#     (version in scripts/services/kafka/pom.xml)
#   - S3Proxy, the S3 API over a local folder (version in scripts/services/s3proxy/pom.xml)
# Both need Java 17 and Maven; the jars are fetched once into a cache outside the clone.
#
# Usage: bash scripts/services.sh up|down|status|env
#   up      fetch the jars if needed, start both servers and wait until they serve requests;
#           does nothing for a server that is already running and healthy
#   down    stop both (SIGTERM, then SIGKILL after a grace period) and delete their data
#   status  print each server's state; exits 1 unless both are up and healthy
#   env     print the variables below as `export` lines: eval "$(bash scripts/services.sh env)"
#
# What the tests connect to (they default to these values, so exporting them is optional):
#   KAFKA_BROKERS=127.0.0.1:9092            Kafka bootstrap server (the controller is on 9093)
#   S3_ENDPOINT=http://127.0.0.1:9000       S3Proxy, path-style addressing
#   S3_ACCESS_KEY_ID=custodia               S3Proxy's identity
#   S3_SECRET_ACCESS_KEY=custodia-secret    S3Proxy's credential
#   S3_REGION=us-east-1
#   S3_FORCE_PATH_STYLE=true
#
# Settings (environment):
#   CUSTODIA_SERVICES_CACHE   where the jars are kept between runs (default ~/.cache/custodia-services)
#   KAFKA_START_TIMEOUT       seconds to wait for Kafka to be ready (default 120)
#   S3PROXY_START_TIMEOUT     seconds to wait for S3Proxy to answer (default 60)
# Runtime state (configuration, logs, data, pid files) lives in .services/ at the repo root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_DIR="$ROOT/scripts/services"
STATE_DIR="$ROOT/.services"
CACHE_DIR="${CUSTODIA_SERVICES_CACHE:-$HOME/.cache/custodia-services}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
S3PROXY_START_TIMEOUT="${S3PROXY_START_TIMEOUT:-60}"
STOP_TIMEOUT=30

KAFKA_HOST=127.0.0.1
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
S3_HOST=127.0.0.1
S3_PORT=9000
S3_ACCESS_KEY_ID=custodia
S3_SECRET_ACCESS_KEY=custodia-secret
S3_REGION=us-east-1

KAFKA_STATE="$STATE_DIR/kafka"
S3_STATE="$STATE_DIR/s3proxy"

log() { printf 'services: %s\n' "$*"; }
fail() {
  printf 'services: error: %s\n' "$*" >&2
  exit 1
}

print_env() {
  cat <<EOF
export KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT
export S3_ENDPOINT=http://$S3_HOST:$S3_PORT
export S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID
export S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY
export S3_REGION=$S3_REGION
export S3_FORCE_PATH_STYLE=true
EOF
}

# --- jars ------------------------------------------------------------------------------------

# The value of <$2> in the pom $1 (a version property).
pom_property() {
  sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$1" | head -n 1
}

# Copies the runtime dependencies of pom $2 into the cache, once per pom content, and prints
# the folder. A half-finished copy is never used: the folder is renamed into place at the end.
fetch_jars() {
  local name="$1" pom="$2" version hash libs tmp output
  version="$(pom_property "$pom" "$name.version")"
  hash="$(sha256sum "$pom" | cut -c1-12)"
  libs="$CACHE_DIR/$name-$version-$hash"
  if [[ -f "$libs/.complete" ]]; then
    printf '%s\n' "$libs"
    return
  fi
  command -v mvn >/dev/null || fail "mvn (Maven 3) is needed to fetch the $name jars"
  log "fetching $name $version jars into $libs (once; cached afterwards)" >&2
  mkdir -p "$CACHE_DIR"
  tmp="$(mktemp -d "$CACHE_DIR/.$name-XXXXXX")"
  if ! output="$(mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1)"; then
    rm -rf "$tmp"
    printf '%s\n' "$output" | tail -n 30 >&2
    fail "could not fetch the $name $version jars with Maven (see above)"
  fi
  touch "$tmp/.complete"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  printf '%s\n' "$libs"
}

# --- processes -------------------------------------------------------------------------------

# The pid in $1/pid if that process is alive and is the server this script started there
# (its command line carries -Dcustodia.services=<state dir>), so a recycled pid is never used.
running_pid() {
  local state="$1" pid
  [[ -f "$state/pid" ]] || return 1
  pid="$(cat "$state/pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-Dcustodia.services=$state " || return 1
  printf '%s\n' "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Who listens on port $1, for error messages.
port_owner() {
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
}

log_tail() {
  local file="$1"
  if [[ -s "$file" ]]; then
    printf -- '--- last lines of %s ---\n' "$file" >&2
    tail -n 40 "$file" >&2
    printf -- '---\n' >&2
  fi
}

# Starts "$@" detached (own session, so a Ctrl-C in the caller's terminal does not reach it),
# output to $2/$1.log, pid to $2/pid.
launch() {
  local name="$1" state="$2"
  shift 2
  : >"$state/$name.log"
  setsid "$@" </dev/null >>"$state/$name.log" 2>&1 &
  printf '%s\n' "$!" >"$state/pid"
}

stop_server() {
  local name="$1" state="$2" pid waited=0
  if pid="$(running_pid "$state")"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 5)); do
      sleep 0.2
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  else
    log "$name is not running"
  fi
  rm -f "$state/pid"
  rm -rf "$state/data"
}

# --- Kafka -----------------------------------------------------------------------------------

kafka_write_config() {
  mkdir -p "$KAFKA_STATE/data"
  cat >"$KAFKA_STATE/server.properties" <<EOF
# Written by scripts/services.sh: one node that is both broker and controller (KRaft).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_STATE/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
# One node: every internal topic has one replica (the default of 3 leaves the group
# coordinator unavailable: "group coordinator is not available" in KafkaJS).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests start consumer groups often: no waiting for more members.
group.initial.rebalance.delay.ms=0
# Two cores: fewer threads.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
EOF
}

# Writes server.properties and formats the storage (once per data folder): done before either
# server starts, so a failure here leaves nothing running.
kafka_prepare() {
  local libs="$1" cluster_id output
  kafka_write_config
  if [[ ! -f "$KAFKA_STATE/data/meta.properties" ]]; then
    # A KRaft log folder must be formatted with a cluster id (22 characters of URL-safe base64).
    # One that starts with "-" reads as an option to the tool's argument parser (1 run in 64 failed
    # that way in CI), so such ids are drawn again, and the id is passed in the "--opt=value" form.
    cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    done
    if ! output="$(java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$SERVICES_DIR/kafka/log4j2.properties" \
      -cp "$libs/*" kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$KAFKA_STATE/server.properties" --ignore-formatted 2>&1)"; then
      printf '%s\n' "$output" | tail -n 30 >&2
      fail "could not format Kafka's storage in $KAFKA_STATE/data (see above)"
    fi
  fi
}

kafka_start() {
  local libs="$1"
  launch kafka "$KAFKA_STATE" java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Dcustodia.services="$KAFKA_STATE" \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$SERVICES_DIR/kafka/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$KAFKA_STATE/server.properties"
}

# 0 when the log says the server started and a real client (kafkajs) gets metadata and a group
# coordinator from it. Without node_modules the client check falls back to the open port.
kafka_healthy() {
  local timeout_ms="${1:-10000}"
  grep -q 'Kafka Server started' "$KAFKA_STATE/kafka.log" 2>/dev/null || return 1
  if command -v node >/dev/null && [[ -d "$ROOT/node_modules/kafkajs" ]]; then
    KAFKA_PROBE_OUTPUT="$(node "$SERVICES_DIR/kafka/probe.js" "$KAFKA_HOST:$KAFKA_PORT" "$timeout_ms" 2>&1)"
  else
    KAFKA_PROBE_OUTPUT='kafkajs is not installed (npm ci): only checked that the port is open'
    port_open "$KAFKA_HOST" "$KAFKA_PORT"
  fi
}

# --- S3Proxy ---------------------------------------------------------------------------------

s3proxy_write_config() {
  mkdir -p "$S3_STATE/data"
  cat >"$S3_STATE/s3proxy.conf" <<EOF
# Written by scripts/services.sh: the S3 API over the folder data/, path-style addressing.
s3proxy.endpoint=http://$S3_HOST:$S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_ACCESS_KEY_ID
s3proxy.credential=$S3_SECRET_ACCESS_KEY
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$S3_STATE/data
EOF
}

s3proxy_start() {
  local libs="$1"
  s3proxy_write_config
  launch s3proxy "$S3_STATE" java -Xmx256m -XX:+UseSerialGC -Dcustodia.services="$S3_STATE" -Djava.awt.headless=true \
    -Dlogback.configurationFile="$SERVICES_DIR/s3proxy/logback.xml" \
    -cp "$libs/*" org.gaul.s3proxy.Main --properties "$S3_STATE/s3proxy.conf"
}

# 0 when S3Proxy answers HTTP (an anonymous request gets 403, which is an answer).
s3proxy_healthy() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$S3_HOST:$S3_PORT/" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != 000 ]]
}

# --- commands --------------------------------------------------------------------------------

# Waits until health check $3 passes for server $1 (state dir $2), or fails with its log tail.
wait_ready() {
  local name="$1" state="$2" check="$3" timeout="$4" start=$SECONDS
  while ! "$check"; do
    if ! running_pid "$state" >/dev/null; then
      log_tail "$state/$name.log"
      rm -f "$state/pid"
      fail "$name exited during startup (log: $state/$name.log); 'bash scripts/services.sh down' stops the other server"
    fi
    if ((SECONDS - start >= timeout)); then
      log_tail "$state/$name.log"
      [[ "$name" == kafka && -n "${KAFKA_PROBE_OUTPUT:-}" ]] && printf 'last client check: %s\n' "$KAFKA_PROBE_OUTPUT" >&2
      stop_server "$name" "$state" >&2
      fail "$name was not ready within ${timeout}s (log: $state/$name.log); 'bash scripts/services.sh down' stops the other server"
    fi
    sleep 0.5
  done
}

# "yes" if the server must be started; fails if its port is taken by another process.
needs_start() {
  local name="$1" state="$2" port="$3" check="$4" pid
  if pid="$(running_pid "$state")"; then
    if "$check"; then
      log "$name already running and healthy (pid $pid)" >&2
    else
      log "$name already running (pid $pid), waiting until it is ready" >&2
    fi
    echo no
    return
  fi
  if port_open 127.0.0.1 "$port"; then
    fail "port $port is in use by another process ($(port_owner "$port")), not one started by this script; stop it or run 'bash scripts/services.sh down'"
  fi
  echo yes
}

cmd_up() {
  local start=$SECONDS kafka_libs s3_libs start_kafka start_s3
  command -v java >/dev/null || fail "java (17 or newer) is needed"
  mkdir -p "$KAFKA_STATE" "$S3_STATE"
  start_kafka="$(needs_start kafka "$KAFKA_STATE" "$KAFKA_PORT" kafka_healthy)"
  [[ "$start_kafka" == yes ]] && port_open 127.0.0.1 "$KAFKA_CONTROLLER_PORT" &&
    fail "port $KAFKA_CONTROLLER_PORT (Kafka controller) is in use by another process ($(port_owner "$KAFKA_CONTROLLER_PORT"))"
  start_s3="$(needs_start s3proxy "$S3_STATE" "$S3_PORT" s3proxy_healthy)"

  if [[ "$start_kafka" == yes ]]; then
    kafka_libs="$(fetch_jars kafka "$SERVICES_DIR/kafka/pom.xml")"
  fi
  if [[ "$start_s3" == yes ]]; then
    s3_libs="$(fetch_jars s3proxy "$SERVICES_DIR/s3proxy/pom.xml")"
  fi
  [[ "$start_kafka" == yes ]] && kafka_prepare "$kafka_libs"
  # Both start at once (their JVMs warm up in parallel), then each is waited for in turn.
  if [[ "$start_s3" == yes ]]; then
    log "starting S3Proxy $(pom_property "$SERVICES_DIR/s3proxy/pom.xml" s3proxy.version) on $S3_HOST:$S3_PORT"
    s3proxy_start "$s3_libs"
  fi
  if [[ "$start_kafka" == yes ]]; then
    log "starting Kafka $(pom_property "$SERVICES_DIR/kafka/pom.xml" kafka.version) on $KAFKA_HOST:$KAFKA_PORT (KRaft, controller on $KAFKA_CONTROLLER_PORT)"
    kafka_start "$kafka_libs"
  fi
  wait_ready s3proxy "$S3_STATE" s3proxy_healthy "$S3PROXY_START_TIMEOUT"
  log "S3Proxy ready at http://$S3_HOST:$S3_PORT"
  wait_ready kafka "$KAFKA_STATE" kafka_healthy "$KAFKA_START_TIMEOUT"
  log "Kafka ready at $KAFKA_HOST:$KAFKA_PORT"
  log "up in $((SECONDS - start))s; state in $STATE_DIR"
}

cmd_down() {
  stop_server kafka "$KAFKA_STATE"
  stop_server s3proxy "$S3_STATE"
}

cmd_status() {
  local ok=0 pid
  if pid="$(running_pid "$KAFKA_STATE")"; then
    if kafka_healthy 5000; then
      echo "kafka:   up (pid $pid) at $KAFKA_HOST:$KAFKA_PORT"
    else
      echo "kafka:   running (pid $pid) but not ready: ${KAFKA_PROBE_OUTPUT:-not started yet}"
      ok=1
    fi
  else
    echo "kafka:   down"
    ok=1
  fi
  if pid="$(running_pid "$S3_STATE")"; then
    if s3proxy_healthy; then
      echo "s3proxy: up (pid $pid) at http://$S3_HOST:$S3_PORT"
    else
      echo "s3proxy: running (pid $pid) but not answering"
      ok=1
    fi
  else
    echo "s3proxy: down"
    ok=1
  fi
  return "$ok"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  *)
    echo "usage: bash scripts/services.sh up|down|status|env" >&2
    exit 2
    ;;
esac
