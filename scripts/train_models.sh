#!/usr/bin/env bash
# Rebuilds data/models/trained/ with the built `circuits` binary, by the commands listed in
# data/README.md ("Trained models"). A seed gives the same weights and curves bit for bit for the
# same binary, whatever the thread count (the timing attributes of /training differ); a binary
# built with other flags (e.g. CIRCUITS_NATIVE) rounds differently and gives models that differ in
# their bits but not in what the tests check.
#   usage: scripts/train_models.sh [path/to/circuits]    (default: build/cli/circuits)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/cli/circuits}
cd "$root"
mkdir -p data/models/trained
run() {
    echo "circuits $*"
    "$bin" "$@"
}
run train bigram -o data/models/trained/bigram-0l.h5 --layers 0 --d-model 32 --positions none --steps 4000 \
    --batch 32 --lr 1e-2 --log-every 100
run train scan-snap -o data/models/trained/scan-snap-1l.h5 --d-model 32 --d-head 16 --steps 3000 --batch 32 \
    --lr 2e-4 --min-lr-ratio 1 --log-every 50
# induction-1l / induction-2l: the induction task's defaults (BOS + a b c d, max_len 8) are the
# compiled data/programs/induction.rasp's vocabulary, BOS convention and maximum length.
run train induction -o data/models/trained/induction-1l.h5 --layers 1 --heads 2 --d-model 32 --d-head 16 \
    --steps 8000 --batch 128 --lr 1e-2 --weight-decay 0.1 --log-every 200
run train induction -o data/models/trained/induction-2l.h5 --layers 2 --heads 2 --d-model 32 --d-head 16 \
    --steps 8000 --batch 128 --lr 1e-2 --weight-decay 0.1 --log-every 200
# The trained counterpart of data/models/compiled/shift_by.h5 (same vocabularies, n_ctx and mask).
run train program:data/programs/shift_by.rasp -o data/models/trained/shift_by-1l.h5 --layers 1 --heads 1 \
    --d-model 32 --d-head 16 --steps 2000 --batch 64 --lr 1e-2 --log-every 50
# The trained counterpart of data/models/compiled/induction.h5: the induction program's targets
# (none where the earlier matches disagree or there is none), two layers.
run train program:data/programs/induction.rasp -o data/models/trained/program-induction-2l.h5 --layers 2 --heads 2 \
    --d-model 32 --d-head 16 --steps 4000 --batch 128 --lr 1e-2 --weight-decay 0.1 --log-every 100
