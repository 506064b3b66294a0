#!/bin/sh
# cli-help.sh BANDSPLIT GROUP --help|--version [PAGE] — what help2man reads to
# write the man page of one command group of the bandsplit CLI:
#   --help     `bandsplit GROUP --help`, then, for a group with verbs, each
#              verb's `bandsplit GROUP VERB --help` under a heading of its own
#   --version  "PAGE VERSION" (the CLI's version; PAGE defaults to
#              bandsplit-GROUP), the name help2man gives the page
set -eu
[ $# -eq 3 ] || [ $# -eq 4 ] || { echo "usage: cli-help.sh BANDSPLIT GROUP --help|--version [PAGE]" >&2; exit 2; }
cli=$1 group=$2 page=${4:-bandsplit-$2}
case $3 in
--version)
	version=$("$cli" --version | awk '{ print $2; exit }')
	echo "$page $version"
	;;
--help)
	help=$("$cli" "$group" --help)
	printf '%s\n' "$help"
	verbs=$(printf '%s\n' "$help" | awk '
		/^Verbs:/ { on = 1; next }
		on && /^  [a-z]/ { print $1; next }
		on { exit }')
	for verb in $verbs; do
		printf '\nVerb %s:\n' "$verb"
		"$cli" "$group" "$verb" --help | sed 's/^/  /'
	done
	;;
*)
	echo "cli-help.sh: $3: --help or --version" >&2
	exit 2
	;;
esac
