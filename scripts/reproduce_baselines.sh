#!/usr/bin/env bash
# Reproduces the baseline comparison of docs/experiments.md on gtzan-mini
# (Mirsepassi's CNN and LSTM beside the reduced CRNN; K-means stratification; log-mel input).
# Usage: scripts/reproduce_baselines.sh [DATA_DIR] [WORK_DIR]   (about 1 h on 2 CPU cores)
# The LSTM baseline is cross-validated only with LSTM_KFOLD=1 (it is the slowest: ~25 min more).
set -euo pipefail
DATA=${1:-../shared/data/gtzan-mini}
W=${2:-runs}
eg() { edge-genre "$@"; }
# fit OUT ARGS...: train unless OUT already holds a finished run (so the script resumes).
fit() { local out=$1; shift; [ -f "$out/metrics.json" ] || eg train fit --features "$W/mfcc" "$@" --out "$out" --quiet; }
[ -f "$W/mfcc/features.npz" ] || eg train prepare --data "$DATA" --out "$W/mfcc"
[ -f "$W/logmel/features.npz" ] || eg train prepare --data "$DATA" --out "$W/logmel" --kind logmel
eg train kmeans --features "$W/mfcc" --out "$W/kmeans"
for model in cnn lstm crnn; do
  # Mirsepassi's protocol: random 60/15/25 over windows (leaky), plain and K-means-stratified.
  fit "$W/$model-mirsepassi" --model $model --split mirsepassi
  fit "$W/$model-mirsepassi-kmeans" --model $model --split mirsepassi --stratify kmeans
  # Leak-free: 5-fold cross-validation grouped by clip.
  if [ $model != lstm ] || [ "${LSTM_KFOLD:-0}" = 1 ]; then
    fit "$W/$model-kfold" --model $model --split kfold
  fi
done
fit "$W/crnn-kfold-kmeans" --model crnn --split kfold --stratify kmeans
fit "$W/crnn-kfold-augpaper" --model crnn --split kfold --augment paper
[ -f "$W/crnn-kfold-logmel/metrics.json" ] || eg train fit --features "$W/logmel" --model crnn --split kfold --out "$W/crnn-kfold-logmel" --quiet
eg train compare "$W"/*-mirsepassi "$W"/*-mirsepassi-kmeans "$W"/*-kfold "$W"/crnn-kfold-* --markdown "$W/compare.md"
