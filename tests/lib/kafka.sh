# tests/lib/kafka.sh — sourced by tests and scripts: runs bandsplit-kafka
# (the embedded Kafka) in the background and talks to its control socket.
#   kafka_start DIR [PARTITIONS]  → sets KAFKA_BOOTSTRAP, KAFKA_CTL, KAFKA_PID
#   kafka_ctl "broker down 1"     → prints the reply; fails unless it is "ok"
#   kafka_stop
# Needs BUILD (the meson build dir) and socat.

kafka_start() {
	local dir=$1 partitions=${2:-16}
	mkdir -p "$dir"
	rm -f "$dir/bootstrap" "$dir/ctl.sock"
	"$BUILD/tools/bandsplit-kafka" --partitions "$partitions" \
		--bootstrap-file "$dir/bootstrap" --control "$dir/ctl.sock" \
		>"$dir/kafka.out" 2>"$dir/kafka.log" &
	KAFKA_PID=$!
	local i
	for i in $(seq 100); do
		if [ -s "$dir/bootstrap" ] && [ -S "$dir/ctl.sock" ]; then
			KAFKA_BOOTSTRAP=$(cat "$dir/bootstrap")
			KAFKA_CTL="$dir/ctl.sock"
			export KAFKA_BOOTSTRAP KAFKA_CTL KAFKA_PID
			return 0
		fi
		kill -0 "$KAFKA_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "kafka_start: bandsplit-kafka did not come up; its log:" >&2
	cat "$dir/kafka.log" >&2
	return 1
}

kafka_ctl() {
	local reply
	reply=$(printf '%s\n' "$*" | socat -t 5 - "UNIX-CONNECT:$KAFKA_CTL")
	echo "$reply"
	case $reply in ok*) return 0 ;; *) echo "kafka_ctl '$*': $reply" >&2; return 1 ;; esac
}

kafka_stop() {
	if [ -n "${KAFKA_PID:-}" ] && kill -0 "$KAFKA_PID" 2>/dev/null; then
		kafka_ctl quit >/dev/null 2>&1 || kill "$KAFKA_PID" 2>/dev/null || true
		wait "$KAFKA_PID" 2>/dev/null || true
	fi
	KAFKA_PID=
}
