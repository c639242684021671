"""``edge-genre train calibrate``, ``train robustness`` and ``train robustness-compare``: how far a
trained model can be trusted (calibration and not-music, capture degradations)."""

from __future__ import annotations

import json
from pathlib import Path

import click

@click.command("calibrate")
@click.argument("target", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--write", "models", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="MODEL", help="Single run: model files exported from it to write the temperature and detector "
                                    "into (repeatable; the first one's outputs are fitted, e.g. the int8 file).")
@click.option("--not-music", "real_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of real recordings that are not music (never trained on): their reject rate is reported.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for trust.md, trust.json and reliability.png  [k-fold: required].")
@click.option("--temperature-from", type=click.Path(exists=True, path_type=Path), default=None, metavar="TRUST",
              help="Use the temperature pooled over the held-out songs of a k-fold run of the same recipe "
                   "('train calibrate CV --out TRUST': TRUST/trust.json) instead of fitting it on this run's few "
                   "validation songs.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def calibrate_cmd(target: Path, models: tuple[Path, ...], real_dir: Path | None, out: Path | None,
                  temperature_from: Path | None, as_json: bool, quiet: bool) -> None:
    """Calibrated confidence and the not-music detector: fit them, measure them, store them.

    \b
    A k-fold run (fold*/ inside): each fold's temperature (cross-fitted on the
    other folds' held-out songs) and music detector (its training songs vs generated non-music) are
    fitted as 'train export' fits them, and measured on its held-out songs:
    expected calibration error (ECE) before/after with its sampling floor, a
    reliability diagram, what --threshold costs, how many music songs keep a
    genre and how much non-music (other seeds and voices than training, and
    --not-music recordings) is reported as not_music. These are the model
    card's figures. trust.json also holds the temperature pooled over all
    folds, for --temperature-from.

    \b
    A single run with --write MODEL...: fits both from the first model's own
    outputs and writes them into the files' metadata ('train export' already
    does this; use it for models exported before).
    """
    from .trust import calibrate_kfold, calibrate_single

    is_kfold = any(target.glob("fold*/run.json"))
    try:
        if is_kfold:
            if out is None:
                raise click.UsageError("a k-fold run needs --out for its report")
            summary = calibrate_kfold(target, out, real_dir, progress=not quiet)
        else:
            if not models:
                raise click.UsageError("a single run needs --write MODEL (the files exported from it)")
            summary = calibrate_single(target, list(models), out, real_dir, progress=not quiet,
                                       temperature_from=temperature_from)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    if out is not None:
        click.echo((out / "trust.md").read_text())
        click.echo(f"written: {out / 'trust.md'}, {out / 'trust.json'}, {out / 'reliability.png'}")
    else:
        click.echo(json.dumps(summary.get("entries", {}), indent=2))
    if models:
        click.echo(f"temperature and music detector written into {', '.join(map(str, models))}")


@click.command("robustness-compare")
@click.argument("reports", nargs=-1, required=True, metavar="[NAME=]REPORT...")
@click.option("--all", "all_strengths", is_flag=True, help="Every strength, not only the moderate ones.")
@click.option("--baseline", default=None, metavar="NAME",
              help="Also check the robustness target against this recipe: clean accuracy at most 2 points below "
                   "it, every moderate degradation within 5 points of the recipe's own clean accuracy.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the markdown here too.")
def robustness_compare_cmd(reports: tuple[str, ...], all_strengths: bool, baseline: str | None, out: Path | None) -> None:
    """Robustness reports of several recipes side by side (markdown tables).

    Each REPORT is a robustness.json (or its folder) from 'edge-genre train
    robustness', optionally named: plain=runs/plain/robustness.
    """
    from .robustness import compare_markdown, load_reports, target_markdown

    if out:
        from edge_genre.cli_support import ensure_writable
        from edge_genre.paths import check_distinct_paths

        sources = [Path(r.split("=", 1)[-1]) for r in reports]
        inputs = {f"report {p}": p / "robustness.json" if p.is_dir() else p for p in sources}
        check_distinct_paths(inputs, {"--out": out})
        ensure_writable(out, "markdown")
    try:
        loaded = load_reports(list(reports))
        text = compare_markdown(loaded, moderate_only=not all_strengths)
        if baseline:
            text += "\n" + target_markdown(loaded, baseline)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    if out:
        out.write_text(text)
    click.echo(text)


@click.command("robustness")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="GTZAN folder holding the clips (needed for a .tflite; default for a run: the feature cache's source).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for robustness.json/.md/.png.")
@click.option("--folds", default=None, help="Comma list of folds of a k-fold run to evaluate (e.g. 0,1); default: all.")
@click.option("--use", type=click.Choice(["keras", "float", "int8"]), default="keras", show_default=True,
              help="For a run directory: the Keras model, or its exported .tflite (exported into --out if absent).")
@click.option("--degradations", default=None, help="Comma list (default: all capture degradations: "
              "bandlimit, noise-white, noise-pink, noise-babble, gain, reverb, mic-eq, stereo-file).")
@click.option("--moderate-only", is_flag=True, help="Only each degradation's moderate strength.")
@click.option("--clips", "clips_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="For a .tflite: file listing the held-out clip ids (blues.00012) or paths; default: every clip of --data.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the degradation noise.")
@click.option("--workers", type=click.IntRange(1, 128), default=2, show_default=True,
              help="Processes computing degraded features.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="Folder caching degraded features (shared by models with the same FeatureConfig).")
@click.option("--quiet", is_flag=True,
              help="No per-item progress bars; each degradation and fold still reports a line.")
def robustness_cmd(target: Path, data_dir: Path | None, out: Path, folds: str | None, use: str, degradations: str | None,
                   moderate_only: bool, clips_file: Path | None, seed: int, workers: int, cache_dir: Path | None,
                   quiet: bool) -> None:
    """Accuracy of TARGET (a .tflite, a run directory or a k-fold run) on held-out clips, clean and degraded.

    A run directory is evaluated on its own test clips (run.json); a k-fold run
    evaluates each fold's model on its fold's test clips and reports mean ± std.
    Every degradation is applied at each strength of its grid to the whole clip
    before the front end. Writes robustness.json, robustness.md and robustness.png.
    """
    from .cli import read_clip_ids

    from edge_genre.cli_support import ensure_directory

    from .degrade import DEGRADATIONS
    from .robustness import robustness

    ensure_directory(out, create=False)
    if cache_dir is not None:
        ensure_directory(cache_dir, "cache directory", create=False)

    names = [n.strip() for n in degradations.split(",") if n.strip()] if degradations is not None else None
    if names == []:
        raise click.BadParameter("names no degradation", param_hint="--degradations")
    unknown = [n for n in names or [] if n not in DEGRADATIONS]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; choose from {', '.join(DEGRADATIONS)}",
                                 param_hint="--degradations")
    clip_ids = read_clip_ids(clips_file) if clips_file else None
    r = robustness(target, out, data_dir=data_dir, use=use, folds=folds.split(",") if folds else None, names=names,
                   moderate_only=moderate_only, clip_ids=clip_ids, seed=seed, workers=workers, cache_dir=cache_dir,
                   progress=not quiet)
    n = r["n_folds"]
    click.echo(f"{target}: {n} fold{'s' if n > 1 else ''}, {sum(r['clips_per_fold'])} held-out clips ({r['backend']})")
    for row in r["conditions"]:
        if row["degradation"] == "clean" or row["moderate"]:
            delta = "" if row["degradation"] == "clean" else f"  (Δ {100 * row['window_delta_mean']:+.1f} / {100 * row['clip_delta_mean']:+.1f})"
            click.echo(f"  {row['degradation']:13s} {row['label']:>10s}: window {100 * row['window_accuracy_mean']:5.1f} %, "
                       f"clip {100 * row['clip_accuracy_mean']:5.1f} %{delta}")
    click.echo(f"{out / 'robustness.md'}, robustness.json, robustness.png written")
    click.echo(r["caveat"])
