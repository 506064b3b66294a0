# api.sh — starting bandsplit-api from the tests, the API bench and the demo.
# Source it after tests/lib/pg.sh (bs_at_exit).

# api_run BIN CONF ERR: starts BIN -c CONF in the background, its stderr
# in ERR, killed at exit; waits (10 s at most) until it logs the port it
# listens on. Sets API_PID and API_URL (http://127.0.0.1:PORT); returns 1,
# with ERR's text on stderr, when it dies or does not listen in time.
api_run() {
	"$1" -c "$2" 2>"$3" &
	API_PID=$!
	bs_at_exit "kill $API_PID 2>/dev/null"
	local port=
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$3")
		[ -n "$port" ] && break
		kill -0 "$API_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "bandsplit-api ($2) did not start listening: $(cat "$3")" >&2
		return 1
	fi
	API_URL=http://127.0.0.1:$port
}
