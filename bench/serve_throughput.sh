#!/bin/sh
# keel nmt serve under load beside offline `keel nmt translate` on the same sentences and settings
# (int8, 2 streams x 1 thread, batches of <= 32), in one run:
#   1. offline translate of the sentences x3 (3 rounds): target tok/s as translate logs it
#      (model load excluded);
#   2. the server with 32 concurrent clients, one sentence per request (3 rounds of 3 x the
#      sentences): target tok/s, and the ratio server / offline (medians);
#   3. latency p50/p99 at 1, 8, 32 and 128 clients;
#   4. throughput at 32 clients against --max-wait-ms.
#
#   bench/serve_throughput.sh [KEEL] [MODEL] [SENTENCES]
#
# SENTENCES defaults to the en-es test set `make corpus` writes (build/corpus/en-es/test.src),
# else tests/data/nmt/sample.en. The load generator runs on the same cores as the server.
set -eu
KEEL=${1:-build/release/apps/keel/keel}
MODEL=${2:-models/en-es-int8}
SENT=${3:-build/corpus/en-es/test.src}
[ -f "$SENT" ] || SENT=tests/data/nmt/sample.en
SETTINGS="--compute int8 --streams 2 --threads-per-stream 1 --max-batch-size 32"
TMP=$(mktemp -d /tmp/keel_serve_bench.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -TERM $PID 2>/dev/null; rm -rf "$TMP"' EXIT
N=$(wc -l < "$SENT")
cat "$SENT" "$SENT" "$SENT" > "$TMP/x3"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "keel: $("$KEEL" --version | head -1); model $MODEL; sentences $SENT ($N lines); $SETTINGS"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

off=$(for r in 1 2 3; do
  "$KEEL" nmt translate --model "$MODEL" $SETTINGS < "$TMP/x3" 2>&1 >/dev/null |
    sed -n 's/.*s (\([0-9]*\) tok\/s.*/\1/p'
done | median)
echo "offline translate: $off target tok/s (median of 3)"

serve() {
  "$KEEL" nmt serve --model "$MODEL" --port 0 $SETTINGS --quiet "$@" > "$TMP/url" 2>"$TMP/log" &
  PID=$!
  for _ in $(seq 300); do grep -q listening "$TMP/url" 2>/dev/null && break; sleep 0.1; done
  URL=$(sed 's/listening on //' "$TMP/url")
}
load() {  # clients requests -> "tok/s p50 p99"
  "$KEEL" nmt bench-serve --url "$URL" --sentences "$SENT" --clients "$1" --requests "$2" \
    --seconds 120 --json --quiet |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["errors"] == 0, j; print("%.0f %.1f %.1f" % (j["target_tokens_per_s"], j["latency_ms"]["p50"], j["latency_ms"]["p99"]))'
}

serve
srv=$(for r in 1 2 3; do load 32 $((3 * N)) | cut -d' ' -f1; done | median)
echo "server, 32 clients: $srv target tok/s (median of 3) = $(awk -v a="$srv" -v b="$off" 'BEGIN {printf "%.0f", 100 * a / b}') % of offline"
echo
echo "| clients | target tok/s | p50 ms | p99 ms |"
echo "|---:|---:|---:|---:|"
for c in 1 8 32 128; do
  req=$((c < 8 ? 300 : 3 * N))
  set -- $(load $c $req)
  echo "| $c | $1 | $2 | $3 |"
done
kill -TERM $PID; wait $PID || true; PID=
echo
echo "| --max-wait-ms | target tok/s (32 clients) | p50 ms | p99 ms |"
echo "|---:|---:|---:|---:|"
for w in 0 1 2 5 10 20; do
  serve --max-wait-ms $w
  set -- $(load 32 $((3 * N)))
  echo "| $w | $1 | $2 | $3 |"
  kill -TERM $PID; wait $PID || true; PID=
done
