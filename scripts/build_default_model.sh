#!/usr/bin/env bash
# Rebuilds the shipped default models (edge_genre/models/genre_crnn_{int8,float}.tflite) and the
# figures of edge_genre/models/MODEL_CARD.md, with this project's own commands, on every song we have
# (gtzan-mini + gtzan-excerpts: 370 songs) with the musicnn teacher.
# Usage: scripts/build_default_model.sh [SHARED_DATA] [WORK_DIR]
#   (~35 min for the shipped model on 2 CPU cores; CV=1 adds the artist-grouped cross-validations
#    and the calibration report, about 2.6 h more, and the calibration temperature pooled over them)
# Needs the training extras and the teacher: pip install -e ".[train]" && pip install --no-deps musicnn==0.1.0
set -euo pipefail
SHARED=${1:-../shared/data}
W=${2:-runs/default}
DATA=(--data "$SHARED/gtzan-mini" --data "$SHARED/gtzan-excerpts" --artists "$SHARED/gtzan-metadata/GTZANindex.txt")
# Front end (--recipe shipped): 64 log-mel bands over the full band, floored 60 dB below each
# window's peak, each window's mean level subtracted (gain-invariant). Excerpts shorter than a window
# are zero-padded, as 'edge-genre classify' pads them (the default --short pad).
FRONT_END=(--recipe shipped)
# Recipe (--recipe shipped: --model crnn --lstm-units 40 --epochs 60 --lr 0.001 --weighting song
# --augment robust --augment-copies 4) and the teacher: labels mixed half and half with the teacher's
# cross-fitted genre probabilities, plus a regression onto its embedding, on the songs and on 1000
# teacher-labelled mixes of two songs by different artists (MIX=0 leaves them out: 1.9 points of
# songs less in cross-validation).
RECIPE=(--recipe shipped --seed 0 --distill "$W/teacher")
NOT_MUSIC=(--not-music "$SHARED/not-music")  # real speech, never trained on: its reject rate is reported

edge-genre train prepare "${DATA[@]}" --out "$W/features" "${FRONT_END[@]}"
# Teacher outputs of every window (and of MIX mixes); prints the teacher baseline (artist-grouped 5-fold).
edge-genre train teacher --features "$W/features" --out "$W/teacher" --mix "${MIX:-1000}" --quiet
# The shipped model: songs of a few artists per genre are held out (never seen in training,
# validation or int8 calibration; their ids are in the model's metadata and CI classifies them).
edge-genre train fit --features "$W/features" --split artist-holdout "${RECIPE[@]}" --out "$W/holdout" --quiet
TEMPERATURE=()
if [ "${CV:-0}" = 1 ]; then
    # Artist-grouped 5-fold cross-validation of the recipe, and of the previous default recipe
    # (window-weighted, no teacher) on the same folds; the teacher baseline of these folds is
    # what 'train teacher' printed above.
    edge-genre train fit --features "$W/features" --split artist --folds 5 "${RECIPE[@]}" --out "$W/artist-cv" --quiet
    edge-genre train robustness "$W/artist-cv" --moderate-only --out "$W/artist-cv-robustness" --quiet
    edge-genre train fit --features "$W/features" --split artist --folds 5 --model crnn --lstm-units 40 --seed 0 \
        --epochs 60 --weighting window --augment robust --augment-copies 4 --out "$W/previous-artist-cv" --quiet
    # Calibration and not-music on the folds' held-out songs (the model card's figures); its
    # temperature pooled over 370 songs replaces the one the hold-out run's ~20 validation songs give.
    edge-genre train calibrate "$W/artist-cv" "${NOT_MUSIC[@]}" --out "$W/artist-cv-trust" --quiet
    TEMPERATURE=(--temperature-from "$W/artist-cv-trust")
fi
edge-genre train export "$W/holdout" --out "$W/export" --name genre_crnn "${NOT_MUSIC[@]}" "${TEMPERATURE[@]}"
cp "$W/export/genre_crnn_int8.tflite" "$W/export/genre_crnn_float.tflite" edge_genre/models/
# Robustness of the shipped int8 model on its held-out songs.
edge-genre train robustness "$W/holdout" --use int8 --out "$W/robustness"
