#!/usr/bin/env bash
# The quantization table for a trained model directory: test BLEU and speed of fp32,
# int8 static (KL, percentile 99.999, min-max; calibrated on the dev source) and int8-dynamic,
# BLEU on the dev and the test set (1 000 sentences each: differences of ~0.3 are noise).
#   tools/nmt_quant_table.sh MODEL_DIR CORPUS_DIR [KEEL]
# MODEL_DIR holds model.keel + spm.model (keel nmt train's output); CORPUS_DIR is keel nmt
# corpus's output (dev.src.sp for calibration, test.src / test.tgt for scoring).
set -euo pipefail
model=$1 corpus=$2 keel=${3:-build/release/apps/keel/keel}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
score() {  # hypotheses references
  "$keel" nmt bleu "$1" "$2" --json | sed -n 's/.*"score": \([0-9.]*\).*/\1/p' | head -1
}
row() {  # name dir compute
  local t0 t1 out=$work/$1.hyp
  "$keel" nmt translate --quiet --model "$2" --compute "$3" --max-decoding-length 128 \
    <"$corpus/dev.src" >"$work/dev.hyp"
  t0=$(date +%s.%N)
  "$keel" nmt translate --quiet --model "$2" --compute "$3" --max-decoding-length 128 \
    <"$corpus/test.src" >"$out"
  t1=$(date +%s.%N)
  local tokens
  tokens=$(wc -w <"$out")
  printf '| %s | %s | %.2f | %.2f | %.0f |\n' "$1" "$3" "$(score "$work/dev.hyp" "$corpus/dev.tgt")" \
    "$(score "$out" "$corpus/test.tgt")" "$(echo "$tokens / ($t1 - $t0)" | bc -l)"
}
echo "| model | --compute | dev BLEU | test BLEU | words/s (test, incl. load) |"
echo "| --- | --- | ---: | ---: | ---: |"
row fp32 "$model" fp32
for m in kl percentile minmax; do
  mkdir -p "$work/$m"
  cp "$model/spm.model" "$work/$m/"
  "$keel" nmt quantize --quiet --model "$model/model.keel" --calib "$corpus/dev.src.sp" \
    --method "$m" --out "$work/$m/model.keel" --json >"$work/$m.json"
  fp32_layers=$(grep -c '"int8": false' "$work/$m.json" || true)
  row "int8 static ($m; $fp32_layers layers kept fp32)" "$work/$m" int8
done
row "int8 dynamic" "$model" int8-dynamic
