#!/usr/bin/env bash
# A real Apache Hadoop 2.7.3 single-node HDFS (NameNode + DataNode) on 127.0.0.1, under Java 17.
#
#   hdfs.sh install              cache the 54 Hadoop jars + the `hdfs` wrapper in
#                                $SPILLWAY_CACHE/tools/hadoop-2.7.3 (jars come from the PyPI sdist
#                                pyspark==2.4.8, which bundles the Hadoop 2.7.3 server jars)
#   hdfs.sh start [--keep-data]  fresh data dir + format (unless --keep-data or SPILLWAY_KEEP_DATA=1),
#                                then wait until the DataNode is live and safemode is off
#   hdfs.sh restart              stop + start --keep-data (no format, files survive)
#   hdfs.sh stop | status | env
#   hdfs.sh check                -put, -cat, restart, -cat again
#   hdfs.sh shell ARGS...        Hadoop's FsShell: hdfs.sh shell -ls / ; -cat F ; -text F (SequenceFiles)
#
# Ports (all on 127.0.0.1): NameNode RPC = SPILLWAY_HDFS_PORT (default 9000); the others are
# derived from it with the offsets of Hadoop 3's defaults: NN http +870, DN http +864,
# DN data +866, DN ipc +867, secondary NN http +868 (9870, 9864, 9866, 9867, 9868 by default).
#
# Java: SPILLWAY_JAVA if set, else the first of `java` on PATH, $JAVA_HOME/bin/java,
# /usr/lib/jvm/*17*/bin/java whose major version is 11..22 (Hadoop 2.7.3 cannot get the
# current user's Subject on Java 23+).
set -euo pipefail
SPILLWAY_COMPONENT=hdfs
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

HADOOP_VERSION=2.7.3
HADOOP_DIR="$SPILLWAY_TOOLS/hadoop-$HADOOP_VERSION"
HADOOP_LIB="$HADOOP_DIR/lib"
HDFS_WRAPPER="$HADOOP_DIR/bin/hdfs"
INSTALL_STAMP="$HADOOP_DIR/.spillway-installed"
PYSPARK_SDIST="$SPILLWAY_DOWNLOADS/pyspark-2.4.8.tar.gz"
PYSPARK_SHA256=3a19b71b8dc8dd91ebc943604a05e1ab01bce052456d42937035632d852d78dc

# The jars a NameNode + DataNode + FsShell need (from pyspark-2.4.8/deps/jars/).
# javax.ws.rs-api and the jetty 6.1.26 jars are needed even with the web UI unused.
JARS=(
  hadoop-annotations-2.7.3 hadoop-auth-2.7.3 hadoop-common-2.7.3 hadoop-hdfs-2.7.3
  commons-cli-1.2 commons-codec-1.10 commons-io-2.4 commons-lang-2.6 commons-logging-1.1.3
  commons-collections-3.2.2 commons-configuration-1.6 commons-beanutils-1.9.4 commons-digester-1.8
  commons-compress-1.20 commons-math3-3.4.1 commons-net-3.1 commons-httpclient-3.1 guava-14.0.1
  htrace-core-3.1.0-incubating jackson-core-asl-1.9.13 jackson-mapper-asl-1.9.13 jackson-jaxrs-1.9.13
  jackson-xc-1.9.13 jetty-6.1.26 jetty-util-6.1.26 javax.servlet-api-3.1.0 jsp-api-2.1
  leveldbjni-all-1.8 log4j-1.2.17 slf4j-api-1.7.16 slf4j-log4j12-1.7.16 netty-3.9.9.Final
  netty-all-4.1.47.Final protobuf-java-2.5.0 xercesImpl-2.9.1 xmlenc-0.52 zookeeper-3.4.6
  curator-client-2.7.1 curator-framework-2.7.1 curator-recipes-2.7.1 gson-2.2.4 httpclient-4.5.6
  httpcore-4.4.10 jsr305-1.3.9 avro-1.8.2 paranamer-2.8 snappy-java-1.1.8.2 activation-1.1.1
  jaxb-api-2.2.2 stax-api-1.0-2 apacheds-i18n-2.0.0-M15 apacheds-kerberos-codec-2.0.0-M15
  api-util-1.0.0-M20 javax.ws.rs-api-2.0.1
)

HOST=127.0.0.1
PORT="${SPILLWAY_HDFS_PORT:-9000}"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT + 870 > 65535 )); then
  die "bad SPILLWAY_HDFS_PORT=$PORT (a number up to 64665)"
fi
NN_HTTP_PORT=$((PORT + 870))
DN_HTTP_PORT=$((PORT + 864))
DN_XFER_PORT=$((PORT + 866))
DN_IPC_PORT=$((PORT + 867))
SNN_HTTP_PORT=$((PORT + 868))

RUN="$SPILLWAY_RUN/hdfs"
CONF="$RUN/conf"
WEBAPPS="$RUN/webapps-cp"
DATA="$RUN/data"
LOGS="$RUN/logs"
NN_PID="$RUN/namenode.pid"
DN_PID="$RUN/datanode.pid"
NN_LOG="$LOGS/namenode.log"
DN_LOG="$LOGS/datanode.log"
START_TIMEOUT="${SPILLWAY_HDFS_START_TIMEOUT:-120}"

# Java 17 needs these for Hadoop 2.7.3's reflection into the JDK.
JAVA_OPENS=(
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
)

# java_major JAVA: print the major version of a java binary.
java_major() {
  "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

find_java() {
  if [[ -n "${SPILLWAY_JAVA:-}" ]]; then printf '%s\n' "$SPILLWAY_JAVA"; return 0; fi
  local c m
  local candidates=()
  c="$(command -v java 2>/dev/null || true)"; [[ -n "$c" ]] && candidates+=("$c")
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME/bin/java")
  for c in /usr/lib/jvm/*17*/bin/java /usr/lib/jvm/*/bin/java; do candidates+=("$c"); done
  for c in "${candidates[@]}"; do
    [[ -x "$c" ]] || continue
    m="$(java_major "$c" 2>/dev/null || true)"
    if [[ "$m" =~ ^[0-9]+$ ]] && (( m >= 11 && m <= 22 )); then
      readlink -f "$c"; return 0
    fi
  done
  return 1
}

installed() {
  [[ -f "$INSTALL_STAMP" && -x "$HDFS_WRAPPER" ]] || return 1
  local j
  for j in "${JARS[@]}"; do [[ -f "$HADOOP_LIB/$j.jar" ]] || return 1; done
}

sdist_ok() {
  [[ -f "$PYSPARK_SDIST" ]] && [[ "$(sha256sum "$PYSPARK_SDIST" | cut -d' ' -f1)" == "$PYSPARK_SHA256" ]]
}

fetch_sdist() {
  if sdist_ok; then
    say "using cached $PYSPARK_SDIST"
    return 0
  fi
  [[ -f "$PYSPARK_SDIST" ]] && { say "cached $PYSPARK_SDIST has a wrong checksum, removing it"; rm -f "$PYSPARK_SDIST"; }
  [[ -x "$SPILLWAY_PY" ]] || "$SPILLWAY_SERVICES_DIR/python.sh" install
  local tmp log
  mkdir -p "$SPILLWAY_DOWNLOADS" "$SPILLWAY_CACHE/logs"
  tmp="$(mktemp -d "$SPILLWAY_DOWNLOADS/.pyspark.XXXXXX")"
  log="$SPILLWAY_CACHE/logs/pyspark-download.log"
  say "downloading the pyspark==2.4.8 sdist (220 MB) from PyPI (log: $log)"
  # --no-build-isolation: pip must run its setup.py to read metadata, with the venv's
  # setuptools + wheel (a bare build environment cannot).
  if ! PIP_CACHE_DIR="${PIP_CACHE_DIR:-$SPILLWAY_CACHE/pip}" "$SPILLWAY_PY" -m pip download --no-input \
      --no-deps --no-build-isolation --no-binary :all: -d "$tmp" pyspark==2.4.8 >"$log" 2>&1; then
    rm -rf "$tmp"
    die_with_log "$log" "pip download of pyspark==2.4.8 failed"
  fi
  mv "$tmp/pyspark-2.4.8.tar.gz" "$PYSPARK_SDIST"
  rm -rf "$tmp"
  sdist_ok || die "downloaded $PYSPARK_SDIST does not have the expected sha256 $PYSPARK_SHA256"
}

write_wrapper() {
  local java="$1"
  mkdir -p "$HADOOP_DIR/bin" "$HADOOP_DIR/etc"
  printf '%s\n' "$java" > "$HADOOP_DIR/etc/java"
  printf '%s\n' "${JARS[@]}" > "$HADOOP_DIR/etc/jars"
  printf '%s\n' "${JAVA_OPENS[@]}" > "$HADOOP_DIR/etc/java-opts"
  cat > "$HADOOP_DIR/etc/log4j-cli.properties" <<'LOG4J'
log4j.rootLogger=WARN,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
LOG4J
  cat > "$HDFS_WRAPPER.tmp" <<'WRAPPER'
#!/usr/bin/env bash
# Stand-in for Hadoop's `hdfs` command, for the Hadoop 2.7.3 jars in ../lib
# (installed by Spillway's integration/services/hdfs.sh).
#   hdfs dfs ARGS...        FsShell: -ls, -put, -cat, -text (decodes SequenceFiles), -truncate, ...
#   hdfs dfsadmin ARGS...   e.g. -report, -safemode get
#   hdfs fsck PATH | hdfs version | hdfs getconf ARGS...
# Configuration: $HADOOP_CONF_DIR, else $SPILLWAY_HADOOP_CONF_DIR (printed by env.sh), else the
# conf that hdfs.sh generated in ${SPILLWAY_RUN:-<cache>/run}/hdfs/conf (it names the NameNode).
# Java: $SPILLWAY_JAVA, else the java chosen at install time (../etc/java).
set -euo pipefail
home="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cache="$(cd "$home/../.." && pwd)"
conf="${HADOOP_CONF_DIR:-${SPILLWAY_HADOOP_CONF_DIR:-${SPILLWAY_RUN:-$cache/run}/hdfs/conf}}"
java="${SPILLWAY_JAVA:-$(cat "$home/etc/java")}"
# check: -put a file, -cat it, restart (no format), -cat it again, remove it.
check() {
  local tmp dir got
  status
  tmp="$(mktemp)"
  dir="/spillway-check-$(date +%s)-$$"
  printf 'spillway hdfs check %s\n' "$(date -u +%FT%TZ)" > "$tmp"
  export HADOOP_CONF_DIR="$CONF"
  say "check: -put a file to $dir/hello.txt"
  "$HDFS_WRAPPER" dfs -mkdir -p "$dir"
  "$HDFS_WRAPPER" dfs -put "$tmp" "$dir/hello.txt"
  say "check: -cat it"
  got="$("$HDFS_WRAPPER" dfs -cat "$dir/hello.txt")"
  [[ "$got" == "$(cat "$tmp")" ]] || die "read back '$got'"
  say "check: restart (keeping the data) and -cat again"
  stop
  start --keep-data
  got="$("$HDFS_WRAPPER" dfs -cat "$dir/hello.txt")"
  [[ "$got" == "$(cat "$tmp")" ]] || die "after restart read back '$got'"
  "$HDFS_WRAPPER" dfs -rm -r -skipTrash "$dir" >/dev/null
  rm -f "$tmp"
  say "check passed"
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  dfs)      cls=org.apache.hadoop.fs.FsShell ;;
  dfsadmin) cls=org.apache.hadoop.hdfs.tools.DFSAdmin ;;
  fsck)     cls=org.apache.hadoop.hdfs.tools.DFSck ;;
  version)  cls=org.apache.hadoop.util.VersionInfo ;;
  getconf)  cls=org.apache.hadoop.hdfs.tools.GetConf ;;
  *) echo "usage: hdfs {dfs|dfsadmin|fsck|version|getconf} ..." >&2; exit 2 ;;
esac
if [[ "$cmd" != version && ! -f "$conf/core-site.xml" ]]; then
  echo "hdfs: no $conf/core-site.xml (is HDFS started? integration/services/hdfs.sh start; or set HADOOP_CONF_DIR)" >&2
  exit 1
fi
cp="$conf"
while read -r jar; do cp="$cp:$home/lib/$jar.jar"; done < "$home/etc/jars"
mapfile -t opens < "$home/etc/java-opts"
exec "$java" -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
  -Dhadoop.home.dir="$home" -Djava.library.path= "${opens[@]}" \
  -Dhadoop.root.logger=WARN,console -Dlog4j.configuration="file:$home/etc/log4j-cli.properties" \
  -cp "$cp" "$cls" "$@"
WRAPPER
  chmod +x "$HDFS_WRAPPER.tmp"
  mv "$HDFS_WRAPPER.tmp" "$HDFS_WRAPPER"
}

install() {
  local t0 java tmp j members=()
  t0="$(now_s)"
  java="$(find_java)" || die "no usable java (11..22) found; install openjdk-17-jre-headless or set SPILLWAY_JAVA"
  if installed; then
    # Refresh the wrapper (cheap) in case the java changed; the jars stay.
    write_wrapper "$java"
    say "Hadoop $HADOOP_VERSION already installed in $HADOOP_DIR (java: $java)"
    return 0
  fi
  fetch_sdist
  tmp="$(mktemp -d "$SPILLWAY_CACHE/.hadoop-extract.XXXXXX")"
  for j in "${JARS[@]}"; do members+=("pyspark-2.4.8/deps/jars/$j.jar"); done
  say "extracting ${#JARS[@]} jars from $(basename "$PYSPARK_SDIST")"
  tar -xzf "$PYSPARK_SDIST" -C "$tmp" "${members[@]}" || { rm -rf "$tmp"; die "jar extraction failed"; }
  rm -rf "$HADOOP_LIB.new"
  mkdir -p "$HADOOP_LIB.new"
  for j in "${JARS[@]}"; do mv "$tmp/pyspark-2.4.8/deps/jars/$j.jar" "$HADOOP_LIB.new/"; done
  rm -rf "$tmp" "$HADOOP_LIB"
  mv "$HADOOP_LIB.new" "$HADOOP_LIB"
  say "writing the hdfs wrapper $HDFS_WRAPPER (java: $java)"
  write_wrapper "$java"
  say "checking: hdfs version"
  "$HDFS_WRAPPER" version 2>&1 | grep -q "^Hadoop $HADOOP_VERSION" || die "hdfs version does not report $HADOOP_VERSION"
  date -u +%FT%TZ > "$INSTALL_STAMP"
  say "Hadoop $HADOOP_VERSION installed in $(elapsed "$t0")s: $(find "$HADOOP_LIB" -name '*.jar' | wc -l) jars in $HADOOP_LIB"
}

need_installed() { installed || die "Hadoop not installed; run $0 install"; }

write_conf() {
  local app
  mkdir -p "$CONF" "$LOGS" "$DATA"
  cat > "$CONF/core-site.xml" <<XML
<?xml version="1.0"?>
<!-- generated by integration/services/hdfs.sh -->
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://$HOST:$PORT</value></property>
  <property><name>hadoop.security.authentication</name><value>simple</value></property>
  <property><name>hadoop.security.authorization</name><value>false</value></property>
  <property><name>hadoop.tmp.dir</name><value>$DATA/tmp</value></property>
</configuration>
XML
  cat > "$CONF/hdfs-site.xml" <<XML
<?xml version="1.0"?>
<!-- generated by integration/services/hdfs.sh -->
<configuration>
  <property><name>dfs.replication</name><value>1</value></property>
  <property><name>dfs.permissions.enabled</name><value>false</value></property>
  <property><name>dfs.permissions</name><value>false</value></property>
  <property><name>dfs.namenode.name.dir</name><value>file://$DATA/name</value></property>
  <property><name>dfs.datanode.data.dir</name><value>file://$DATA/data</value></property>
  <property><name>dfs.namenode.rpc-address</name><value>$HOST:$PORT</value></property>
  <property><name>dfs.namenode.http-address</name><value>$HOST:$NN_HTTP_PORT</value></property>
  <property><name>dfs.namenode.secondary.http-address</name><value>$HOST:$SNN_HTTP_PORT</value></property>
  <property><name>dfs.datanode.address</name><value>$HOST:$DN_XFER_PORT</value></property>
  <property><name>dfs.datanode.http.address</name><value>$HOST:$DN_HTTP_PORT</value></property>
  <property><name>dfs.datanode.ipc.address</name><value>$HOST:$DN_IPC_PORT</value></property>
  <property><name>dfs.datanode.hostname</name><value>$HOST</value></property>
  <property><name>dfs.namenode.datanode.registration.ip-hostname-check</name><value>false</value></property>
  <property><name>dfs.webhdfs.enabled</name><value>false</value></property>
  <property><name>dfs.namenode.safemode.extension</name><value>0</value></property>
  <!-- 1.0: after a restart stay in safemode until every complete block is reported again
       (with the default 0.999 the threshold rounds down to 0 for fewer than 1000 blocks). -->
  <property><name>dfs.namenode.safemode.threshold-pct</name><value>1.0</value></property>
  <property><name>dfs.namenode.safemode.min.datanodes</name><value>0</value></property>
  <property><name>dfs.namenode.fs-limits.min-block-size</name><value>1024</value></property>
  <property><name>dfs.heartbeat.interval</name><value>1</value></property>
</configuration>
XML
  cat > "$CONF/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m%n
LOG4J
  # The built-in HTTP servers insist on finding these web-app folders on the classpath.
  for app in hdfs datanode secondary journal; do
    mkdir -p "$WEBAPPS/webapps/$app/WEB-INF"
    cat > "$WEBAPPS/webapps/$app/WEB-INF/web.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="http://java.sun.com/xml/ns/javaee" version="2.5">
</web-app>
XML
  done
}

# server_cmd HEAP CLASS ARGS...: print nothing; sets SERVER_CMD to the java command line.
server_cmd() {
  local heap="$1" cls="$2" cp j java; shift 2
  java="$(cat "$HADOOP_DIR/etc/java")"
  [[ -n "${SPILLWAY_JAVA:-}" ]] && java="$SPILLWAY_JAVA"
  cp="$CONF:$WEBAPPS"
  for j in "${JARS[@]}"; do cp="$cp:$HADOOP_LIB/$j.jar"; done
  SERVER_CMD=("$java" "-Xmx$heap" -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true
    "-Dhadoop.home.dir=$HADOOP_DIR" "-Dhadoop.log.dir=$LOGS" -Djava.library.path=
    "${JAVA_OPENS[@]}" -cp "$cp" "$cls" "$@")
}

running() {
  pidfile_pid "$NN_PID" >/dev/null 2>&1 && pidfile_pid "$DN_PID" >/dev/null 2>&1
}

# DataNode registered and safemode off, asked through Hadoop's own dfsadmin.
ready() {
  local report
  report="$("$HDFS_WRAPPER" dfsadmin -report 2>/dev/null)" || return 1
  grep -q 'Live datanodes (1)' <<<"$report" || return 1
  "$HDFS_WRAPPER" dfsadmin -safemode get 2>/dev/null | grep -q 'Safe mode is OFF'
}

start() {
  local t0 pid
  t0="$(now_s)"
  need_installed
  if running; then
    say "already running (namenode pid $(pidfile_pid "$NN_PID"), datanode pid $(pidfile_pid "$DN_PID")) on hdfs://$HOST:$PORT"
    return 0
  fi
  # If anything below fails, stop what this start started (the logs stay).
  trap 'rc=$?; if (( rc != 0 )); then say "start failed; stopping what it started"; stop >/dev/null 2>&1 || true; fi' EXIT
  # A half-started cluster (one of the two alive) is stopped first.
  stop_pidfile datanode "$DN_PID" >/dev/null 2>&1
  stop_pidfile namenode "$NN_PID" >/dev/null 2>&1
  local p
  for p in "$PORT" "$NN_HTTP_PORT" "$DN_HTTP_PORT" "$DN_XFER_PORT" "$DN_IPC_PORT"; do
    ensure_port_free hdfs "$HOST" "$p"
  done
  if want_keep_data "$@"; then
    say "keeping the data in $DATA"
  else
    say "fresh data dir $DATA"
    rm -rf "$DATA" "$LOGS"
  fi
  write_conf
  say "config written to $CONF (hdfs://$HOST:$PORT, NN http $NN_HTTP_PORT, DN $DN_XFER_PORT/$DN_IPC_PORT/$DN_HTTP_PORT)"
  if [[ ! -d "$DATA/name/current" ]]; then
    say "formatting the NameNode"
    server_cmd 512m org.apache.hadoop.hdfs.server.namenode.NameNode \
      -format -force -nonInteractive -clusterid CID-spillway
    "${SERVER_CMD[@]}" >"$LOGS/format.log" 2>&1 </dev/null || die_with_log "$LOGS/format.log" "format failed"
  fi
  server_cmd 1g org.apache.hadoop.hdfs.server.namenode.NameNode
  pid="$(start_bg "$NN_PID" "$NN_LOG" "${SERVER_CMD[@]}")"
  say "started namenode (pid $pid, log $NN_LOG), waiting for $HOST:$PORT"
  wait_for_port namenode "$HOST" "$PORT" "$START_TIMEOUT" "$NN_PID" "$NN_LOG"
  server_cmd 512m org.apache.hadoop.hdfs.server.datanode.DataNode
  pid="$(start_bg "$DN_PID" "$DN_LOG" "${SERVER_CMD[@]}")"
  say "started datanode (pid $pid, log $DN_LOG), waiting until it is live and safemode is off"
  wait_until datanode "$START_TIMEOUT" "$DN_PID" "$DN_LOG" ready
  pidfile_pid "$NN_PID" >/dev/null || die_with_log "$NN_LOG" "namenode died"
  trap - EXIT
  say "HDFS up in $(elapsed "$t0")s: hdfs://$HOST:$PORT"
}

stop() {
  stop_pidfile datanode "$DN_PID" 30
  stop_pidfile namenode "$NN_PID" 30
}

status() {
  if running; then
    say "running: namenode pid $(pidfile_pid "$NN_PID"), datanode pid $(pidfile_pid "$DN_PID"), hdfs://$HOST:$PORT"
  else
    local s=""
    pidfile_pid "$NN_PID" >/dev/null 2>&1 && s=" (but the namenode is)"
    pidfile_pid "$DN_PID" >/dev/null 2>&1 && s=" (but the datanode is)"
    say "not running$s"
    return 1
  fi
}

print_env() {
  running || return 0
  printf 'export SPILLWAY_TEST_HDFS_URL=%q\n' "hdfs://$HOST:$PORT"
  printf 'export SPILLWAY_HADOOP_HDFS=%q\n' "$HDFS_WRAPPER"
  printf 'export SPILLWAY_HADOOP_CONF_DIR=%q\n' "$CONF"
}

# check: -put a file, -cat it, restart (no format), -cat it again, remove it.
check() {
  local tmp dir got
  status
  tmp="$(mktemp)"
  dir="/spillway-check-$(date +%s)-$$"
  printf 'spillway hdfs check %s\n' "$(date -u +%FT%TZ)" > "$tmp"
  export HADOOP_CONF_DIR="$CONF"
  say "check: -put a file to $dir/hello.txt"
  "$HDFS_WRAPPER" dfs -mkdir -p "$dir"
  "$HDFS_WRAPPER" dfs -put "$tmp" "$dir/hello.txt"
  say "check: -cat it"
  got="$("$HDFS_WRAPPER" dfs -cat "$dir/hello.txt")"
  [[ "$got" == "$(cat "$tmp")" ]] || die "read back '$got'"
  say "check: restart (keeping the data) and -cat again"
  stop
  start --keep-data
  got="$("$HDFS_WRAPPER" dfs -cat "$dir/hello.txt")"
  [[ "$got" == "$(cat "$tmp")" ]] || die "after restart read back '$got'"
  "$HDFS_WRAPPER" dfs -rm -r -skipTrash "$dir" >/dev/null
  rm -f "$tmp"
  say "check passed"
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop ;;
  restart) stop; start --keep-data ;;
  status) status ;;
  env) print_env ;;
  check) check ;;
  shell) need_installed; HADOOP_CONF_DIR="$CONF" exec "$HDFS_WRAPPER" dfs "$@" ;;
  *) echo "usage: $0 {install|start [--keep-data]|stop|restart|status|env|check|shell ARGS...}" >&2; exit 2 ;;
esac
