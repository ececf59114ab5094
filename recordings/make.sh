#!/bin/sh
# Remake the shipped recordings (see recordings/README.md). Run from the checkout's root:
#   sh recordings/make.sh                 # every recording, one after the other (~30 min)
#   sh recordings/make.sh kv-cache-exhaustion   # just one
# Each recording starts its own stack on free ports, records at 1 s under steady load and
# applies the fault schedule of recordings/plans/<name>.yaml; one stack at a time.
set -eu
GAMEDAY=${GAMEDAY:-.venv/bin/gameday}
OUT=${OUT:-recordings}

record() {  # name users [--set ...]
    name=$1; users=$2; shift 2
    "$GAMEDAY" record -o "$OUT/$name.jsonl.gz" --duration 5m --warmup 20s --load steady --users "$users" \
        --faults "recordings/plans/$name.yaml" --force "$@"
}

ONLY=" $* "
want() { [ "$ONLY" = "  " ] || case $ONLY in *" $1 "*) return 0;; *) return 1;; esac; }

for name in kv-cache-exhaustion bad-model-rollout slow-feature-store \
            quiet-baseline-segment feature-store-outage; do
    want "$name" || continue
    case $name in
        feature-store-outage) record "$name" 6 --set gateway.fallbacks.default_features=false ;;
        kv-cache-exhaustion) record "$name" 18 ;;
        *) record "$name" 6 ;;
    esac
done
# The long quiet baseline: a calm stretch of the steady segment looped to 2 h at 15 s.
if want quiet-baseline; then
    "$GAMEDAY" recording stitch recordings/quiet-baseline.yaml -o "$OUT/quiet-baseline.jsonl.gz" --force
fi
