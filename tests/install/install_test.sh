#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then, from another working directory and with
# nothing of the build tree on hand: the demo scenario, a sentence translated with the installed
# model by name, one tiny synthetic mcnn epoch through the installed keel-train, --version,
# the man pages and the bash completion.
# Usage: install_test.sh BUILD_DIR HAVE_TRAIN(0|1)
set -euo pipefail
build=$(cd "$1" && pwd)
have_train=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
fail() { echo "FAIL: $*"; exit 1; }
for f in bin/keel share/keel/examples/power/default.toml share/keel/models/en-es-int8/model.keel \
         share/doc/keel/README.md share/doc/keel/LICENSE share/doc/keel/NOTICE \
         share/man/man1/keel.1.gz share/man/man1/keel-power.1.gz share/man/man1/keel-nmt.1.gz \
         share/bash-completion/completions/keel; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
if [ "$have_train" = 1 ]; then
  [ -x "$prefix/libexec/keel/keel-train" ] || fail "not installed: libexec/keel/keel-train"
  [ -e "$prefix/share/man/man1/keel-mcnn.1.gz" ] || fail "not installed: keel-mcnn.1.gz"
fi
# The engine pages carry every verb's flags.
zcat "$prefix/share/man/man1/keel-power.1.gz" | grep -qF 'keel power simulate:' \
  || fail "keel-power.1 lacks the simulate section"
zcat "$prefix/share/man/man1/keel-power.1.gz" | grep -qF '\-\-spec' || fail "keel-power.1 lacks --spec"

mkdir "$tmp/elsewhere" && cd "$tmp/elsewhere"
keel=$prefix/bin/keel
"$keel" --version >version.txt
grep -q "^keel [0-9]" version.txt || fail "--version: $(cat version.txt)"
grep -q "^oneDNN:" version.txt || fail "--version lacks oneDNN: $(cat version.txt)"
if [ "$have_train" = 1 ]; then
  grep -q "^LibTorch: [0-9]" version.txt || fail "--version lacks LibTorch: $(cat version.txt)"
  grep -q "^MPI: .*Open MPI" version.txt || fail "--version lacks OpenMPI: $(cat version.txt)"
fi

"$keel" --quiet power simulate "$prefix/share/keel/examples/power/default.toml" \
  --spec "$prefix/share/keel/examples/power/illustrative_spec.toml" >sim.txt \
  || fail "power simulate: $(cat sim.txt)"
grep -q "MW" sim.txt || fail "power simulate printed no summary"

echo "the second stage of mitosis" | "$keel" --quiet nmt translate --model en-es --compute int8 >es.txt \
  || fail "nmt translate --model en-es"
[ "$(wc -w <es.txt)" -ge 2 ] || fail "translation: '$(cat es.txt)'"
if "$keel" nmt translate --model no-such-model </dev/null 2>err.txt; then fail "unknown model accepted"; fi
grep -q "no-such-model" err.txt || fail "unknown model error: $(cat err.txt)"

if [ "$have_train" = 1 ]; then
  "$keel" --quiet mcnn synth --out data --height 128 --width 128 --images-per-class 2 >/dev/null \
    || fail "mcnn synth"
  "$keel" --quiet mcnn train --data data --epochs 1 --batch 4 --threads 1 --checkpoint m.ckpt \
    >train.txt || fail "mcnn train: $(cat train.txt)"
  [ -s m.ckpt ] || fail "no checkpoint written"
  # KEEL_TRAIN overrides where keel-train is looked for, and a wrong one is one clear line.
  if KEEL_TRAIN=/nonexistent/keel-train "$keel" mcnn info 2>err.txt; then fail "bad KEEL_TRAIN accepted"; fi
  grep -q "KEEL_TRAIN" err.txt || fail "bad KEEL_TRAIN error: $(cat err.txt)"
fi

# Completion: `keel power si<TAB>` and `keel power simulate --sp<TAB>`.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _keel; echo "${COMPREPLY[*]}"' \
    _ "$prefix/share/bash-completion/completions/keel" "$@"
}
[ "$(complete_words keel power si)" = simulate ] || fail "completion: keel power si -> '$(complete_words keel power si)'"
[ "$(complete_words keel power simulate --sp)" = --spec ] || fail "completion of simulate's flags"
if [ "$have_train" = 1 ]; then
  complete_words keel mcnn t | grep -qw train || fail "completion: keel mcnn t -> '$(complete_words keel mcnn t)'"
fi
echo "install test passed ($prefix)"
