#!/bin/sh
# Training steps per second of induction-2l's configuration: `circuits train` (Eigen) against the
# same model, batch and optimiser in PyTorch (Debian's python3-torch, bench/torch_train.py), in one run.
#
#   bench/train_vs_torch.sh                  # Release build with -march=native in build-bench/
#   NATIVE=OFF bench/train_vs_torch.sh       # the portable flags of the default build
#   STEPS=500 THREADS="1 2" BUILD=/tmp/b bench/train_vs_torch.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NATIVE=${NATIVE:-ON}
BUILD=${BUILD:-$ROOT/build-bench}
STEPS=${STEPS:-300}
THREADS=${THREADS:-"1 2"}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCIRCUITS_NATIVE="$NATIVE" >/dev/null
make -C "$BUILD" -j2 circuits >/dev/null 2>&1

# induction-2l (data/README.md): 2 layers, 4 heads, d_model 32, d_head 16, BOS + 16 tokens over a..h.
MODEL="--layers 2 --heads 4 --d-model 32 --d-head 16"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "config: induction task, $MODEL, batch 64, AdamW lr 3e-3 wd 0.1, $STEPS steps; circuits built with NATIVE=$NATIVE"
for t in $THREADS; do
    line=$("$BUILD/cli/circuits" train induction -o "$OUT/bench.h5" $MODEL --batch 64 --lr 3e-3 --weight-decay 0.1 \
        --steps "$STEPS" --threads "$t" --log-every "$STEPS" --checkpoints 0 2>/dev/null)
    echo "circuits threads $t: $(echo "$line" | sed 's/^wrote [^:]*: //')"
    OMP_NUM_THREADS=$t /usr/bin/python3 "$ROOT/bench/torch_train.py" --layers 2 --heads 4 --d-model 32 --d-head 16 \
        --batch 64 --lr 3e-3 --weight-decay 0.1 --steps "$STEPS" --threads "$t"
done
