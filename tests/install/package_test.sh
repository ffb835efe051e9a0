#!/usr/bin/env bash
# `make package`'s Debian package: its control fields (runtime Depends, never -dev; the corpus
# tools as Recommends), its contents (what `cmake --install` installs), lintian without errors,
# and the package unpacked into a temporary root runs `keel --version` and the demo scenario.
# Usage: package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cpack -G DEB -B "$tmp/pkg" --config "$build/CPackConfig.cmake" >"$tmp/cpack.log" 2>&1 \
  || { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/keel_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no keel_<version>_amd64.deb in $(ls "$tmp/pkg")"
echo "built $(basename "$deb")"

info=$(dpkg-deb --info "$deb")
depends=$(dpkg-deb -f "$deb" Depends)
recommends=$(dpkg-deb -f "$deb" Recommends)
echo "Depends: $depends"
echo "Recommends: $recommends"
for lib in libtorch libdnnl libopenmpi libsentencepiece libfftw3 libtiff libtcmalloc libicu \
           libopenblas0-openmp libstdc++6; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib"
done
if grep -qE -- '-dev\b' <<<"$depends"; then fail "Depends names a -dev package"; fi
for p in apertium apertium-eng-spa wordnet-base fortunes trans-de-en; do
  grep -qw -- "$p" <<<"$recommends" || fail "Recommends lacks $p"
done
grep -q "^ Package: keel$" <<<"$info" || fail "package name: $info"

contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for f in ./usr/bin/keel ./usr/libexec/keel/keel-train ./usr/share/keel/examples/power/default.toml \
         ./usr/share/keel/models/en-es-int8/model.keel ./usr/share/keel/models/en-es-int8/spm.model \
         ./usr/share/doc/keel/copyright ./usr/share/doc/keel/README.md ./usr/share/man/man1/keel.1.gz \
         ./usr/share/man/man1/keel-power.1.gz ./usr/share/man/man1/keel-nmt.1.gz \
         ./usr/share/man/man1/keel-mcnn.1.gz ./usr/share/bash-completion/completions/keel; do
  grep -qxF -- "$f" <<<"$contents" || fail "package lacks $f"
done

lintian --tag-display-limit 0 "$deb" >"$tmp/lintian.txt" 2>&1 || true
cat "$tmp/lintian.txt"
if grep -q "^E:" "$tmp/lintian.txt"; then fail "lintian reports errors"; fi

root=$tmp/root
dpkg-deb -x "$deb" "$root"
cd "$tmp"
"$root/usr/bin/keel" --version | tee version.txt
grep -q "^LibTorch: [0-9]" version.txt || fail "packaged keel does not find its keel-train"
"$root/usr/bin/keel" --quiet power simulate "$root/usr/share/keel/examples/power/default.toml" >demo.txt \
  || fail "demo from the package"
grep -q "MW" demo.txt || fail "demo printed no summary"
echo "package test passed"
