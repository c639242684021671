"""``edge-genre train kmeans`` and ``edge-genre train compare``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("kmeans")
@click.option("--features", "features_path", required=True, type=click.Path(path_type=Path),
              help="Feature cache from 'train prepare'.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the report and plots.")
@click.option("--clusters", type=click.IntRange(2), default=10, show_default=True, help="k of k-means.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of k-means and t-SNE.")
@click.option("--no-plot", is_flag=True, help="Skip the t-SNE picture (it takes a while).")
def kmeans(features_path: Path, out: Path, clusters: int, seed: int, no_plot: bool) -> None:
    """K-means over the MFCC windows: purity table (purity.md/.json) and a t-SNE picture (tsne.png).

    The same clustering gives the "with K-means" split variant: 'train fit --stratify kmeans'.
    """
    from .dataset import DatasetError, FeatureSet
    from .kmeans import run_kmeans

    fs = FeatureSet.load(features_path)
    if clusters > len(fs.y):
        raise DatasetError(f"--clusters {clusters} for {len(fs.y)} windows in {features_path}: at most one "
                           "cluster per window")
    result = run_kmeans(fs, out, k=clusters, seed=seed, plot=not no_plot)
    click.echo((out / "purity.md").read_text())
    best = max(result["per_genre"].items(), key=lambda kv: kv[1]["purity"])
    click.echo(f"purest genre: {best[0]} ({100 * best[1]['purity']:.0f} % of its windows in cluster c{best[1]['top_cluster']}); "
               f"written to {out}")


def _load_metrics(run: Path) -> dict:
    path = run / "metrics.json"
    if not path.exists():
        raise click.ClickException(f"{run}: no metrics.json (not a run directory)")
    return json.loads(path.read_text())


def _fmt(m: dict, key: str) -> str:
    if f"{key}_mean" in m:
        return f"{100 * m[key + '_mean']:.2f} ± {100 * m[key + '_std']:.2f}"
    return f"{100 * m[key]:.2f}" if key in m else "-"


def compare_markdown(runs: list[Path]) -> str:
    """Runs side by side (song accuracy first, with each run's protocol), then their per-genre song
    recall pooled over folds where the runs have it."""
    from .splits import protocol

    lines = ["| run | model | protocol | song acc. (%) | window acc. (%) | F1 (%) | epochs | parameters | ms/step | Keras model size |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    recalls = {}
    for run in runs:
        m = _load_metrics(run)
        cfg = m.get("config", {})
        split = m.get("split", cfg.get("split", "?"))
        proto = m.get("protocol") or protocol(cfg.get("split", split))
        keras_files = [run / "model.keras"] + sorted(run.glob("fold*/model.keras"))
        size = next((f"{p.stat().st_size / 1024:.0f} KiB" for p in keras_files if p.exists()), "-")
        params = m.get("trainable_parameters")
        epochs = cfg.get("epochs", "-") if params and cfg.get("model") != "musicnn" else "-"  # musicnn: a fitted head
        if epochs != "-" and cfg.get("keep") == "best" and m.get("kept_epoch"):
            epochs = f"{epochs} (kept {m['kept_epoch']})"  # the weights of the best validation epoch
        lines.append(f"| {run.name} | {cfg.get('model', '?')} | {proto} ({cfg.get('split', split)}) | {_fmt(m, 'track_accuracy')} | "
                     f"{_fmt(m, 'accuracy')} | {_fmt(m, 'f1')} | {epochs} | "
                     f"{f'{params:,}' if params else '-'} | {m.get('ms_per_step') or '-'} | {size} |")
        if m.get("song_recall"):
            recalls[run.name] = m["song_recall"]
    if recalls:
        genres = list(next(iter(recalls.values())))
        lines += ["", "Per-genre song recall (%), pooled over the folds' test songs:", "",
                  "| run | " + " | ".join(genres) + " |", "|---|" + "---|" * len(genres)]
        for name, rec in recalls.items():
            lines.append(f"| {name} | " + " | ".join("-" if rec.get(g) is None else f"{100 * rec[g]:.0f}" for g in genres) + " |")
    return "\n".join(lines) + "\n"


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--markdown", "markdown_path", type=click.Path(path_type=Path), help="Also write the table to this file.")
def compare(runs: tuple[Path, ...], markdown_path: Path | None) -> None:
    """Put runs side by side: song and window accuracy, protocol, epochs, parameters, ms per step, model size.

    k-fold runs show mean ± std over folds; every row names its protocol (window-leaky,
    clip-grouped, artist-grouped). A teacher baseline folder ('train teacher --out') is a run too.
    """
    if markdown_path:
        from edge_genre.cli_support import ensure_writable
        from edge_genre.paths import check_distinct_paths

        inputs = {f"{run}/{name}": run / name for run in runs for name in ("metrics.json", "summary.md", "run.json")}
        check_distinct_paths(inputs, {"--markdown": markdown_path}, output_dirs={})
        ensure_writable(markdown_path, "markdown table")
    table = compare_markdown(list(runs))
    if markdown_path:
        markdown_path.write_text(table)
    click.echo(table)
