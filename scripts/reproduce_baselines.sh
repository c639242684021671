#!/usr/bin/env bash
# Reproduces the baseline comparison of docs/experiments.md on gtzan-mini
# (Mirsepassi's CNN and LSTM beside the reduced CRNN; K-means stratification; log-mel input).
# Usage: scripts/reproduce_baselines.sh [DATA_DIR] [WORK_DIR]   (about 1 h on 2 CPU cores)
set -euo pipefail
DATA=${1:-../shared/data/gtzan-mini}
W=${2:-runs}
eg() { edge-genre "$@"; }
[ -f "$W/mfcc/features.npz" ] || eg train prepare --data "$DATA" --out "$W/mfcc"
[ -f "$W/logmel/features.npz" ] || eg train prepare --data "$DATA" --out "$W/logmel" --kind logmel
eg train kmeans --features "$W/mfcc" --out "$W/kmeans"
for model in cnn lstm crnn; do
  # Mirsepassi's protocol: random 60/15/25 over windows (leaky), plain and K-means-stratified.
  eg train fit --features "$W/mfcc" --model $model --split mirsepassi --out "$W/$model-mirsepassi" --quiet
  eg train fit --features "$W/mfcc" --model $model --split mirsepassi --stratify kmeans --out "$W/$model-mirsepassi-kmeans" --quiet
  # Leak-free: 5-fold cross-validation grouped by clip.
  eg train fit --features "$W/mfcc" --model $model --split kfold --out "$W/$model-kfold" --quiet
done
eg train fit --features "$W/mfcc" --model crnn --split kfold --stratify kmeans --out "$W/crnn-kfold-kmeans" --quiet
eg train fit --features "$W/logmel" --model crnn --split kfold --out "$W/crnn-kfold-logmel" --quiet
eg train compare "$W"/*-mirsepassi "$W"/*-mirsepassi-kmeans "$W"/*-kfold "$W"/crnn-kfold-* --markdown "$W/compare.md"
