#!/usr/bin/env bash
# The shipped binaries hold no path of the machine that built them (source or build tree).
# Usage: no_build_paths.sh SOURCE_DIR BUILD_DIR BINARY...
set -euo pipefail
src=$1 build=$2
shift 2
status=0
for bin in "$@"; do
  for dir in "$src" "$build"; do
    n=$(grep -a -F -c -- "$dir" "$bin" || true)
    if [ "$n" != 0 ]; then
      echo "FAIL: $bin contains '$dir' ($n lines):"
      grep -a -F -o -- "$dir[^[:space:][:cntrl:]]*" "$bin" | sort -u | head -5
      status=1
    fi
  done
  echo "checked $bin"
done
exit $status
