# pg.sh — a throwaway PostgreSQL 15 cluster for one test or demo run.
#
# Source it, then:
#   pg_start               initdb + start a private cluster; exports PGHOST
#                          (its socket dir), PGPORT, PGDATABASE=bandsplit,
#                          PGUSER=bandsplit (owner of the database with
#                          CREATEROLE, not a superuser: the administrator
#                          who runs `bandsplit migrate`, which creates the
#                          roles bandsplit_owner/_settle/_cli/_api and makes
#                          it a member of bandsplit_owner; psql checks run
#                          as it); root can also connect as role "root" (a
#                          superuser) with PGUSER=root.
#                          The programs run as their least-privilege roles:
#                          BANDSPLIT_DB="user=bandsplit_cli" is exported (the
#                          CLI's default connection), BS_DB_ADMIN and
#                          BS_DB_SETTLE hold the conninfo of the
#                          administrator and of the consumer's role.
#   pg_migrate CLI [ARGS]  `CLI --db "$BS_DB_ADMIN" migrate ARGS`
#   pg_psql ARGS...        psql -X -q -v ON_ERROR_STOP=1 on that database
#   pg_restart_immediate   pg_ctl restart -m immediate (crash + recovery)
#   pg_down / pg_up        stop -m immediate / start again (outage tests)
#   pg_stop                stop the cluster and delete its files
#   pg_restart_huge on|off restart with huge_pages on or off (benchmarks
#                          comparing the two in one run)
#   bs_at_exit CMD         run CMD (a string) when the shell exits; pg_start
#                          registers pg_stop this way. Commands run in
#                          reverse order of registration.
#
# The cluster listens on a Unix socket in its own temp dir only (no TCP),
# with trust authentication on that socket. fsync and synchronous_commit
# keep their defaults (on) so that crash tests test something. PostgreSQL
# refuses to run as root: initdb and pg_ctl run as the postgres user.
#
# Benchmarks configure the server as a park's database host would be
# (README, "Configure": PostgreSQL on the database host); tests do not:
#   PG_SHARED_BUFFERS=SIZE shared_buffers (default 256MB)
#   PG_HUGE_PAGES=1        shared memory in 2 MB huge pages: as many as
#                          `postgres -C shared_memory_size_in_huge_pages`
#                          asks are added to vm.nr_hugepages (root only)
#                          and given back at exit, and the server runs with
#                          huge_pages = on. Where they cannot be reserved it
#                          says so and runs with huge_pages = off.
#                          PG_HUGE_PAGES_STATE tells which: on or off.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_TMP=
PG_DATA=
PG_LOG=

BS_AT_EXIT_CMDS=()

_bs_run_at_exit() {
	local i
	# a reader of our output may be gone already: cleanup must not die of
	# SIGPIPE half way
	trap '' PIPE
	for ((i = ${#BS_AT_EXIT_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${BS_AT_EXIT_CMDS[$i]}" 2>/dev/null || true
	done
	BS_AT_EXIT_CMDS=()
}

bs_at_exit() {
	BS_AT_EXIT_CMDS+=("$1")
	trap _bs_run_at_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

_pg_as_postgres() {
	runuser -u postgres -- "$@"
}

# A port no one listens on. The socket lives in our own directory, so the
# port only names the socket file; still, keep it unique on the host.
_pg_free_port() {
	local port tries=0
	while ((tries++ < 200)); do
		port=$((20000 + RANDOM % 40000))
		if ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q . &&
		   ! ls /tmp/.s.PGSQL."$port" >/dev/null 2>&1; then
			echo "$port"
			return 0
		fi
	done
	echo "pg.sh: no free port found" >&2
	return 1
}

_pg_ctl() {
	_pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" "$@"
}

pg_start() {
	if [[ ! -x $PG_BIN/initdb ]]; then
		echo "pg.sh: $PG_BIN/initdb not found (apt-get install postgresql-15)" >&2
		return 1
	fi
	PG_TMP=$(mktemp -d /tmp/bandsplit-pg.XXXXXX) || return 1
	chown postgres: "$PG_TMP"
	chmod 0755 "$PG_TMP"
	PG_DATA=$PG_TMP/data
	PG_LOG=$PG_TMP/postgres.log
	bs_at_exit pg_stop

	# --no-sync only skips initdb's own final fsync of the fresh cluster;
	# the running server keeps fsync=on.
	if ! _pg_as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres \
		-A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_TMP/initdb.log" 2>&1; then
		echo "pg.sh: initdb failed:" >&2
		cat "$PG_TMP/initdb.log" >&2
		return 1
	fi
	PGPORT=$(_pg_free_port) || return 1
	cat >>"$PG_DATA/postgresql.conf" <<-EOF
		listen_addresses = ''
		port = $PGPORT
		unix_socket_directories = '$PG_TMP'
		max_connections = 50
		shared_buffers = ${PG_SHARED_BUFFERS:-256MB}
		huge_pages = off
		max_wal_size = 2GB
		log_min_messages = warning
		log_line_prefix = '%m [%p] '
	EOF
	cat >"$PG_DATA/pg_hba.conf" <<-EOF
		local all all trust
	EOF
	PG_HUGE_PAGES_STATE=off
	if [[ ${PG_HUGE_PAGES:-} == 1 ]] && _pg_reserve_huge_pages; then
		echo "huge_pages = on" >>"$PG_DATA/postgresql.conf"
		PG_HUGE_PAGES_STATE=on
	fi
	if ! _pg_ctl -w -t 60 start >/dev/null; then
		echo "pg.sh: server did not start:" >&2
		cat "$PG_LOG" >&2
		return 1
	fi
	export PGHOST=$PG_TMP PGPORT
	unset PGPASSWORD PGSERVICE PGHOSTADDR
	_pg_as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" "$PG_BIN/psql" -X -q \
		-v ON_ERROR_STOP=1 -d postgres -U postgres <<-EOF >/dev/null || return 1
		CREATE ROLE root SUPERUSER LOGIN;
		CREATE ROLE bandsplit LOGIN CREATEROLE;
		CREATE DATABASE bandsplit OWNER bandsplit;
	EOF
	export PGDATABASE=bandsplit PGUSER=bandsplit
	export BS_DB_ADMIN="user=bandsplit" BS_DB_SETTLE="user=bandsplit_settle"
	export BANDSPLIT_DB="user=bandsplit_cli"
}

# Adds the huge pages the configured server needs to vm.nr_hugepages and
# registers their release. Fails (saying why) when they cannot be had.
_pg_reserve_huge_pages() {
	local need have before free
	need=$(_pg_as_postgres "$PG_BIN/postgres" -D "$PG_DATA" \
		-C shared_memory_size_in_huge_pages 2>/dev/null) || need=
	if [[ ! $need =~ ^[0-9]+$ || $need -le 0 ]]; then
		echo "pg.sh: huge pages: the server does not say how many it needs; huge_pages = off" >&2
		return 1
	fi
	before=$(cat /proc/sys/vm/nr_hugepages)
	if ! echo $((before + need)) 2>/dev/null >/proc/sys/vm/nr_hugepages; then
		echo "pg.sh: huge pages: cannot raise vm.nr_hugepages (not root?); huge_pages = off" >&2
		return 1
	fi
	have=$(cat /proc/sys/vm/nr_hugepages)
	bs_at_exit "_pg_release_huge_pages $((have - before))"
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	if ((free < need)); then
		echo "pg.sh: huge pages: $free free of the $need needed (memory too fragmented?); huge_pages = off" >&2
		return 1
	fi
	return 0
}

_pg_release_huge_pages() {
	local now
	now=$(cat /proc/sys/vm/nr_hugepages)
	((now >= $1)) && echo $((now - $1)) >/proc/sys/vm/nr_hugepages
}

pg_restart_huge() {
	_pg_ctl -w -t 60 -m fast -o "-c huge_pages=$1" restart >/dev/null
}

pg_migrate() {
	local cli=$1
	shift
	"$cli" --db "$BS_DB_ADMIN" migrate "$@"
}

pg_psql() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_restart_immediate() {
	_pg_ctl -w -t 60 -m immediate restart >/dev/null
}

pg_down() {
	_pg_ctl -w -t 60 -m immediate stop >/dev/null
}

pg_up() {
	_pg_ctl -w -t 60 start >/dev/null
}

pg_stop() {
	[[ -n $PG_TMP && -d $PG_TMP ]] || return 0
	if [[ -f $PG_DATA/postmaster.pid ]]; then
		_pg_ctl -w -t 30 -m fast stop >/dev/null 2>&1 ||
			_pg_ctl -w -t 30 -m immediate stop >/dev/null 2>&1
	fi
	if [[ -n ${PG_KEEP:-} ]]; then
		echo "pg.sh: kept $PG_TMP (PG_KEEP set)" >&2
	else
		rm -rf "$PG_TMP"
	fi
	PG_TMP=
}
