#!/usr/bin/env bash
# Rebuilds the shipped large models (edge_genre/models/genre_musicnn_{int8,float}.tflite, `--model large`)
# and the figures of edge_genre/models/MODEL_CARD_large.md, with this project's own commands, on every
# song we have (gtzan-mini + gtzan-excerpts: 370 songs).
# Usage: scripts/build_large_model.sh [SHARED_DATA] [WORK_DIR]
#   (~10 min on 2 CPU cores; CV=1 adds the artist-grouped cross-validation, its robustness and the
#    int8 export of every fold, about 30 min more)
# Needs the training extras and musicnn: pip install -e ".[train]" && pip install --no-deps musicnn==0.1.0
set -euo pipefail
SHARED=${1:-../shared/data}
W=${2:-runs/large}
DATA=(--data "$SHARED/gtzan-mini" --data "$SHARED/gtzan-excerpts" --artists "$SHARED/gtzan-metadata/GTZANindex.txt")
# musicnn's front end, computed by edge_genre's NumPy DSP: 16 kHz, n_fft 512, hop 256, 96 mel bands,
# each window's mean mel power set to -5 dB (gain-invariant: without it -20 dB of gain cost 34
# points), then log10(1 + 10000 mel); 188 frames per 3-s window. Short excerpts are zero-padded.
edge-genre train prepare "${DATA[@]}" --kind musicnn --normalization level --out "$W/features"
# Recipe: the frozen MSD_musicnn backbone and a logistic-regression genre head on its 200-d
# embedding, songs weighted equally, learnt from the clean windows and one reverberated copy of
# each (without it a 0.4-s room cost 10 points; the full robust augmentation x4 cost clean
# accuracy: docs/large-model.md).
RECIPE=(--model musicnn --seed 0 --augment "reverb@1.0" --augment-copies 1)
# The shipped model: the songs of a few artists per genre are held out (the same 28 songs as the
# default model's; their ids are in the model's metadata and CI classifies them).
NOT_MUSIC=(--not-music "$SHARED/not-music")  # real speech, never trained on: its reject rate is reported
edge-genre train fit --features "$W/features" --split artist-holdout "${RECIPE[@]}" --out "$W/holdout" --quiet
TEMPERATURE=()
if [ "${CV:-0}" = 1 ]; then
    edge-genre train fit --features "$W/features" --split artist --folds 5 "${RECIPE[@]}" --out "$W/artist-cv" --quiet
    edge-genre train robustness "$W/artist-cv" --moderate-only --out "$W/artist-cv-robustness" --quiet
    for k in 0 1 2 3 4; do  # int8 against float on every fold's test songs
        edge-genre train export "$W/artist-cv/fold$k" --out "$W/artist-cv-export/fold$k" --name large --no-trust
    done
    # Calibration and not-music on the folds' held-out songs; the temperature pooled over them.
    edge-genre train calibrate "$W/artist-cv" "${NOT_MUSIC[@]}" --out "$W/artist-cv-trust" --quiet
    TEMPERATURE=(--temperature-from "$W/artist-cv-trust")
fi
edge-genre train export "$W/holdout" --out "$W/export" --name genre_musicnn "${NOT_MUSIC[@]}" "${TEMPERATURE[@]}"
cp "$W/export/genre_musicnn_int8.tflite" "$W/export/genre_musicnn_float.tflite" edge_genre/models/
