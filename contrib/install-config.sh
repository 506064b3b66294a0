#!/bin/sh
# install-config.sh EXAMPLES_DIR CONF_DIR NAME=EXAMPLE... — meson's install
# script for the configuration: copies each installed example
# EXAMPLES_DIR/EXAMPLE to CONF_DIR/NAME only when CONF_DIR/NAME does not
# exist yet, so that an operator's files are never overwritten (meson's
# install_data would). Honours DESTDIR like the rest of `meson install`.
set -eu
[ $# -ge 2 ] || { echo "usage: install-config.sh EXAMPLES_DIR CONF_DIR NAME=EXAMPLE..." >&2; exit 2; }
examples="${DESTDIR:-}$1"
confdir="${DESTDIR:-}$2"
shift 2
mkdir -p "$confdir"
for pair in "$@"; do
	name=${pair%%=*}
	example=${pair#*=}
	if [ -e "$confdir/$name" ] || [ -L "$confdir/$name" ]; then
		echo "Keeping $confdir/$name (it exists; the example is $examples/$example)"
		continue
	fi
	install -m 0644 "$examples/$example" "$confdir/$name"
	echo "Installing $confdir/$name (from $example)"
done
