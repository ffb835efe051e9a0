#!/bin/sh
# help2man's view of one engine: `keel ENGINE --help` followed by every verb's --help as its own
# subsection. Usage (from a generated wrapper): keel_man_help.sh KEEL ENGINE --help|--version
keel=$1
engine=$2
case "$3" in
--version) printf "keel-%s %s\n" "$engine" "$("$keel" --version | head -n 1 | cut -d" " -f2)" ;;
--help)
  "$keel" "$engine" --help || exit 1
  verbs=$("$keel" "$engine" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
  for verb in $verbs; do
    printf '\nkeel %s %s:\n' "$engine" "$verb"
    "$keel" "$engine" "$verb" --help | sed 's/^/  /' || exit 1
  done
  ;;
*) echo "usage: keel_man_help.sh KEEL ENGINE --help|--version" >&2; exit 2 ;;
esac
