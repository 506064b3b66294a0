#!/usr/bin/env bash
# build-deb.sh — builds the Debian package from the working tree and tries
# it on this machine (as root; too slow for the test suite: the package
# build alone compiles everything again):
#   1. copies the tracked and new files of the working tree to a temp dir
#      and runs `dpkg-buildpackage -us -uc -b` there (unit tests included);
#   2. lintian on the result (its findings are printed and kept in
#      OUT/lintian.txt; an error fails the script);
#   3. installs the .deb with dpkg (the runtime libraries must already be
#      installed), runs `bandsplit --help` and `/usr/bin/bandsplit-meter
#      --help` from their installed paths, verifies the installed units,
#      renders an installed man page, runs `bandsplit migrate` with the
#      installed migrations (no --sql-dir) on a throwaway PostgreSQL
#      (tests/lib/pg.sh), and checks that a database ahead of the code is
#      refused by `bandsplit migrate` and by the installed bandsplit-settle;
#   4. purges the package and checks that nothing of it is left (no
#      /usr/bin/bandsplit*, units, migrations, /etc/bandsplit).
# Usage: tools/build-deb.sh [OUT_DIR]   (default: a temp dir; the .deb,
# .buildinfo, .changes and lintian.txt stay there)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$SRC/tests/lib/pg.sh"
[[ $(id -u) == 0 ]] || { echo "build-deb.sh: run as root (it installs the package)" >&2; exit 2; }
if dpkg-query -W -f='${Status}' bandsplit 2>/dev/null | grep -q installed; then
	echo "build-deb.sh: bandsplit is installed already; dpkg --purge bandsplit first" >&2
	exit 2
fi
# Debian keeps a system user after a purge; this script removes the one it
# made, so that the machine is left as it was.
user_existed=0
getent passwd bandsplit >/dev/null && user_existed=1
OUT=${1:-$(mktemp -d /tmp/bandsplit-deb.XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/bandsplit-debsrc.XXXXXX)
INSTALLED=0
cleanup() {
	((INSTALLED)) && dpkg --purge bandsplit >/dev/null 2>&1 || true
	((user_existed)) || userdel bandsplit 2>/dev/null || true
	rm -rf "$WORK"
}
bs_at_exit cleanup
step() { printf '\n== %s\n' "$*"; }
die() { echo "build-deb.sh: FAIL: $*" >&2; exit 1; }

step "source tree → $WORK/bandsplit"
version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
mkdir -p "$WORK/bandsplit"
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$WORK/bandsplit"
rm -rf "$WORK/bandsplit/build"

step "dpkg-buildpackage -us -uc -b (version $version)"
start=$SECONDS
(cd "$WORK/bandsplit" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 ||
	{ tail -40 "$OUT/build.log"; die "dpkg-buildpackage (log: $OUT/build.log)"; }
echo "built in $((SECONDS - start)) s"
cp "$WORK"/bandsplit*_"$version"_*.deb "$WORK"/bandsplit_"$version"_*.changes \
	"$WORK"/bandsplit_"$version"_*.buildinfo "$OUT"/
DEB=$(ls "$OUT"/bandsplit_"$version"_*.deb)
dpkg-deb --info "$DEB" | sed -n '/Depends/p'

step "lintian"
lintian --info --display-info --pedantic "$OUT"/bandsplit_"$version"_*.changes >"$OUT/lintian.txt" 2>&1 || true
cat "$OUT/lintian.txt"
grep -q '^E: ' "$OUT/lintian.txt" && die "lintian reports errors"

step "dpkg -i"
dpkg -i "$DEB" || die "dpkg -i $DEB"
INSTALLED=1
bandsplit --help >/dev/null || die "bandsplit --help"
/usr/bin/bandsplit-meter --help >/dev/null || die "/usr/bin/bandsplit-meter --help"
for p in bandsplit bandsplit-meter bandsplit-settle bandsplit-kafka; do
	[[ $(command -v $p) == /usr/bin/$p ]] || die "$p is not /usr/bin/$p"
	/usr/bin/$p --version || die "$p --version"
done
getent passwd bandsplit >/dev/null || die "no system user bandsplit"
[[ $(stat -c '%G %a' /etc/bandsplit/settle.conf) == "bandsplit 640" ]] ||
	die "/etc/bandsplit/settle.conf is $(stat -c '%G %a' /etc/bandsplit/settle.conf), not bandsplit 640"
dpkg-query --control-show bandsplit conffiles | grep -q '^/etc/bandsplit/settle.conf' ||
	die "/etc/bandsplit/settle.conf is not a conffile"
for u in /lib/systemd/system/bandsplit-*.service; do
	systemd-analyze verify --man=no "$(basename "${u/@./@node1.}")" 2>&1 | tee "$WORK/verify.out"
	[[ -s $WORK/verify.out ]] && die "systemd-analyze verify $u"
done
MANWIDTH=80 man --warnings=w bandsplit-meter >/dev/null 2>"$WORK/man.err" || die "man bandsplit-meter"
[[ -s $WORK/man.err ]] && die "man bandsplit-meter: $(cat "$WORK/man.err")"
echo "installed: programs, user, conffiles, units verified, man pages"

step "bandsplit migrate with the installed migrations"
pg_start || die "PostgreSQL did not start"
unset BANDSPLIT_SQL_DIR
bandsplit --db "$BS_DB_ADMIN" migrate >"$WORK/migrate.log" 2>&1 ||
	{ cat "$WORK/migrate.log"; die "bandsplit migrate"; }
n_files=$(ls /usr/share/bandsplit/sql/[0-9]*.sql | wc -l)
n_applied=$(pg_psql -At -c "SELECT count(*) FROM schema_migrations")
[[ $n_files == "$n_applied" ]] || die "$n_applied migrations applied, /usr/share/bandsplit/sql has $n_files"
bandsplit --db "$BS_DB_ADMIN" migrate --check || die "migrate --check after migrate"
echo "$n_applied migrations applied from /usr/share/bandsplit/sql"
pg_psql -c "INSERT INTO schema_migrations VALUES (999, '0999_from_the_future', repeat('0', 64))"
rc=0; bandsplit --db "$BS_DB_ADMIN" migrate >"$WORK/ahead.log" 2>&1 || rc=$?
[[ $rc == 1 ]] || die "migrate on a database ahead of the code exited $rc, not 1"
rc=0; timeout 30 /usr/bin/bandsplit-settle --set "postgres.conninfo=$BS_DB_SETTLE" \
	--set kafka.brokers=127.0.0.1:9 --set settle.metrics_listen= >"$WORK/settle.log" 2>&1 || rc=$?
[[ $rc == 1 ]] || { cat "$WORK/settle.log"; die "bandsplit-settle on a database ahead of it exited $rc, not 1"; }
echo "a database ahead of the code: refused by migrate and by bandsplit-settle (exit 1)"
pg_stop

step "dpkg --purge"
dpkg --purge bandsplit || die "dpkg --purge"
INSTALLED=0
left=$(ls -d /usr/bin/bandsplit* /usr/share/bandsplit /lib/systemd/system/bandsplit* \
	/usr/lib/sysusers.d/bandsplit.conf /etc/bandsplit /usr/share/doc/bandsplit \
	/usr/share/man/man*/bandsplit* 2>/dev/null || true)
[[ -z $left ]] && echo "nothing left" || die "left after purge: $left"
echo
echo "build-deb.sh: ok ($DEB; lintian: $(grep -c '^[EWIPX]: ' "$OUT/lintian.txt" || true) finding(s), $OUT/lintian.txt)"
