#!/usr/bin/env bash
# Rebuilds the shipped default models (edge_genre/models/genre_crnn_{int8,float}.tflite) and the
# figures of edge_genre/models/MODEL_CARD.md, with this project's own commands, on gtzan-mini.
# Usage: scripts/build_default_model.sh [DATA_DIR] [WORK_DIR]     (~40 min on 2 CPU cores)
set -euo pipefail
DATA=${1:-../shared/data/gtzan-mini}
W=${2:-runs/default}
# Front end: 64 log-mel bands over the full band, floored 60 dB below each window's peak, each
# window's mean level subtracted (gain-invariant).
FRONT_END=(--kind logmel --n-mels 64 --normalization level --top-db 60)
RECIPE=(--model crnn --dropout --lr 0.001 --epochs 100 --batch-size 32 --lstm-units 40 --seed 0
        --augment robust --augment-copies 4)

edge-genre train prepare --data "$DATA" --out "$W/features" "${FRONT_END[@]}"
# The shipped model: trained on 70 clips; the two highest-numbered clips of each genre are held out
# (never seen in training or calibration), one more clip per genre validates.
edge-genre train fit --features "$W/features" --split holdout "${RECIPE[@]}" --out "$W/holdout" --quiet
edge-genre train export "$W/holdout" --out "$W/export" --name genre_crnn
cp "$W/export/genre_crnn_int8.tflite" "$W/export/genre_crnn_float.tflite" edge_genre/models/
# Robustness of the shipped int8 model on its held-out clips, beside the plain MFCC model (no
# augmentation, the papers' front end) trained on the same split.
edge-genre train robustness "$W/holdout" --use int8 --out "$W/robustness"
edge-genre train prepare --data "$DATA" --out "$W/features-mfcc"
edge-genre train fit --features "$W/features-mfcc" --split holdout --model crnn --epochs 100 --seed 0 \
    --out "$W/plain-holdout" --quiet
edge-genre train robustness "$W/plain-holdout" --use int8 --out "$W/plain-robustness"
# Leak-free estimate of the recipe: 5-fold cross-validation grouped by clip (mean and spread).
edge-genre train fit --features "$W/features" --split kfold "${RECIPE[@]}" --out "$W/kfold" --quiet
