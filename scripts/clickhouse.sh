#!/usr/bin/env bash
# Starts, stops and reports on a private ClickHouse server for the test suite.
#
#   scripts/clickhouse.sh start   install Debian's clickhouse-server if missing, start it on
#                                 loopback with its data under $ASPM_CH_DIR, wait until it answers
#   scripts/clickhouse.sh stop    stop the server this script started (no-op when none runs)
#   scripts/clickhouse.sh status  exit 0 when the server answers
#
# Ports default to 19000 (native) and 18123 (HTTP) so a system ClickHouse is never touched.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${ASPM_CH_DIR:-$root/.cache/clickhouse}
tcp_port=${ASPM_CH_TCP_PORT:-19000}
http_port=${ASPM_CH_HTTP_PORT:-18123}
pidfile=$dir/clickhouse.pid

server_bin() {
	command -v clickhouse-server 2>/dev/null || { [ -x /usr/sbin/clickhouse-server ] && echo /usr/sbin/clickhouse-server; } || true
}

install() {
	[ -n "$(server_bin)" ] && return 0
	echo "clickhouse: installing Debian's clickhouse-server" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

# answers reports whether the HTTP interface replies to /ping (bash's /dev/tcp: no curl needed).
answers() {
	local reply
	reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$http_port && printf 'GET /ping HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null) || return 1
	[[ $reply == *"Ok."* ]]
}

write_config() {
	mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
	cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
	cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval><duration>3600</duration><queries>0</queries><errors>0</errors>
            <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
        </default>
    </quotas>
</yandex>
XML
}

start() {
	if answers; then
		echo "clickhouse: already answering on 127.0.0.1:$http_port" >&2
		return 0
	fi
	install
	write_config
	local bin
	bin=$(server_bin)
	[ -n "$bin" ] || { echo "clickhouse: clickhouse-server not found after install" >&2; exit 1; }
	# The server refuses to start when run as root with files owned by someone else; everything
	# here is ours, so start it directly in the background as the current user.
	nohup "$bin" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 1 120); do
		if answers; then
			echo "clickhouse: ready on 127.0.0.1:$tcp_port (native), 127.0.0.1:$http_port (http), data in $dir" >&2
			return 0
		fi
		sleep 0.5
	done
	echo "clickhouse: did not answer within 60s; last log lines:" >&2
	tail -n 20 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 || true
	exit 1
}

stop() {
	[ -f "$pidfile" ] || return 0
	local pid
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) answers ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
