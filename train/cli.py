"""``edge-genre train ...``: prepare features, fit, sweep, export (desktop, TensorFlow)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import click


from edge_genre.cli_support import FiniteFloatRange
from edge_genre.config import FeatureConfig
from edge_genre.errors import ConfigError

from .dataset import DEFAULT_SHORT_POLICY, SHORT_POLICIES, UNKNOWN_ARTIST
from .splits import SPLITS

PAPER_TABLE2 = {  # Setiorini et al. 2024, Table 2: accuracy / loss / precision / recall / F1 (test set, %)
    (False, 0.1): (10.06, 230.86, 1.01, 10.06, 1.84), (False, 0.01): (74.07, 91.52, 74.82, 74.07, 73.81),
    (False, 0.001): (86.74, 64.69, 86.84, 86.74, 86.67), (False, 0.0001): (84.68, 60.25, 84.70, 84.68, 84.56),
    (True, 0.1): (10.91, 230.88, 1.19, 10.91, 2.15), (True, 0.01): (74.72, 75.50, 74.94, 74.72, 74.43),
    (True, 0.001): (88.64, 51.95, 88.85, 88.64, 88.62), (True, 0.0001): (86.24, 46.91, 86.28, 86.24, 86.19),
}


@click.group()
@click.option("--verbose", "-v", is_flag=True,
              help="Let TensorFlow's start-up and converter logs through (absl, oneDNN, CUDA stub, retracing "
                   "warnings); by default they are kept off the terminal and shown only when a step fails.")
def train(verbose: bool) -> None:
    """Desktop training on GTZAN: features, models, evaluation reports, int8 export.

    \b
    Data: GTZAN (Tzanetakis & Cook 2002; 1000 30-s clips, 10 genres), e.g. the
    Kaggle copy "GTZAN Dataset - Music Genre Classification" (andradaolteanu),
    laid out as ROOT/genres_original/<genre>/<genre>.000NN.wav (or the original
    ROOT/genres/<genre>/*.au). Our workspace's subset is ../shared/data/gtzan-mini.

    \b
    Progress: every long step reports on stderr (a line rewritten in place on a
    terminal, sparse lines in a log); --quiet on a command drops the per-epoch
    bars, never the step lines.

    \b
    Typical session:
      edge-genre train prepare --data ../shared/data/gtzan-mini --out features/mfcc
      edge-genre train fit --features features/mfcc --model crnn --split kfold --out runs/crnn-kfold
      edge-genre train fit --features features/mfcc --split track --out runs/crnn
      edge-genre train export runs/crnn --out models/
    """
    if not verbose:
        from .quiet import install

        install()


# Named recipes: what the shipped default model was built with (scripts/build_default_model.sh).
# Options given on the command line win over the recipe's.
PREPARE_RECIPES = {"shipped": {"kind": "logmel", "n_mels": 64, "normalization": "level", "top_db": 60.0}}
FIT_RECIPES = {"shipped": {"model": "crnn", "dropout": True, "lr": 0.001, "epochs": 60, "batch_size": 32,
                           "lstm_units": 40, "weighting": "song", "augment": "robust", "augment_copies": 4}}


def apply_recipe(ctx: click.Context, recipes: dict, name: str | None, values: dict) -> dict:
    """``values`` with the named recipe's settings for every option left at its default."""
    if not name:
        return values
    out = dict(values)
    for key, value in recipes[name].items():
        if ctx.get_parameter_source(key) in (None, click.core.ParameterSource.DEFAULT):
            out[key] = value
    return out


def _file_stem(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Callback of --name: a file-name stem, not empty, no directory parts (files stay inside --out)."""
    if not value.strip() or Path(value).name != value or value in (".", ".."):
        raise click.BadParameter(f"{value!r} is not a plain file name (no '/', not empty)", param_hint="--name")
    return value


def read_clip_ids(path: Path) -> list[str]:
    """Clip ids (``blues.00012``) from a file of ids or audio paths, one a line; an empty list is an error."""
    from edge_genre.audio import AUDIO_EXTENSIONS

    from edge_genre.paths import read_bytes_limited

    from .dataset import MAX_LIST_BYTES, DatasetError

    ids = []
    for line in read_bytes_limited(path, MAX_LIST_BYTES, DatasetError, "clip list").decode("utf-8", "replace").splitlines():
        name = Path(line.strip()).name
        if name.lower().endswith(AUDIO_EXTENSIONS):  # a file name: drop its extension, not the clip number
            name = name.rsplit(".", 1)[0]
        if name:
            ids.append(name)
    if not ids:
        raise click.BadParameter(f"{path} lists no clips", param_hint="--clips")
    return ids


@train.command()
@click.option("--data", "data_dirs", required=True, multiple=True, type=click.Path(path_type=Path),
              help="GTZAN root: Kaggle layout (genres_original/<genre>/*.wav) or original (genres/<genre>/*.au). "
                   "Give it several times to read several roots into one cache (e.g. gtzan-mini and gtzan-excerpts).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Feature cache to write (.npz; a directory gets features.npz).")
@click.option("--kind", type=click.Choice(["mfcc", "logmel", "musicnn"]), default="mfcc", show_default=True,
              help="Features: the papers' MFCCs, log-mel bands (the default model's), or 'musicnn': the whole front "
                   "end of the pretrained musicnn backbone (16 kHz, n_fft 512, hop 256, 96 bands, log10(1 + 10000 mel)) "
                   "that 'train fit --model musicnn' (the large model) reads; with --normalization level (the "
                   "large model's) each window's mean mel power is set to -5 dB first, so the input gain does not matter.")
@click.option("--normalization", type=click.Choice(["none", "window", "level"]), default="none", show_default=True,
              help="'window': standardise each coefficient over the frames of each window. 'level': subtract each "
                   "window's mean log-mel level, so the features ignore the input gain.")
@click.option("--n-mels", type=click.IntRange(1), default=128, show_default=True,
              help="Mel bands (the log-mel input size with --kind logmel).")
@click.option("--fmax", type=FiniteFloatRange(0, min_open=True), default=None,
              help="Upper edge of the mel filterbank in Hz (default: half the sample rate). 8000 makes the features "
                   "blind to what a 16 kHz recording lacks.")
@click.option("--top-db", type=FiniteFloatRange(0, min_open=True), default=80.0, show_default=True,
              help="Dynamic range kept below each window's loudest log-mel value; quieter values are raised to that "
                   "floor. Smaller values hide the quiet detail that noise and band-limiting change.")
@click.option("--short", "short", type=click.Choice(SHORT_POLICIES), default=DEFAULT_SHORT_POLICY, show_default=True,
              help="Clips shorter than one window (at least 1 s): 'pad' zero-pads the end, as 'edge-genre classify' "
                   "does; 'loop' repeats the clip; 'skip' leaves it out. Recorded in the cache and the run.")
@click.option("--artists", "artist_index", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Artist index, 'file ::: artist ::: title' lines (GTZANindex.txt): every window knows its artist, "
                   "and 'train fit --split artist' can keep each artist on one side.")
@click.option("--workers", type=click.IntRange(1, 128), default=None, help="Processes (default: all cores).")
@click.option("--paper-json", type=click.Path(path_type=Path), default=None, help="Also write the papers' JSON (mapping/labels/mfcc).")
@click.option("--recipe", type=click.Choice(sorted(PREPARE_RECIPES)), default=None,
              help="shipped: the shipped model's front end (--kind logmel --n-mels 64 --normalization level "
                   "--top-db 60); options you give win.")
def prepare(data_dirs: tuple[Path, ...], out: Path, kind: str, normalization: str, n_mels: int, fmax: float | None,
            top_db: float, short: str, artist_index: Path | None, workers: int | None, paper_json: Path | None,
            recipe: str | None) -> None:
    """Cut every clip into 3-s windows (at most ten) and cache their features.

    Features come from edge_genre's own front end (the code the device runs).
    Unreadable clips (such as GTZAN's corrupt jazz.00054.wav) are skipped with a
    warning that names them; so are clips under 1 s and, with --short skip,
    clips shorter than one window.

    \b
    Every song we have, with artists (370 songs: 100 clips of 30 s, 270 excerpts of 2-3 s):
      edge-genre train prepare --data ../shared/data/gtzan-mini --data ../shared/data/gtzan-excerpts \\
          --artists ../shared/data/gtzan-metadata/GTZANindex.txt --out runs/all/features
    """
    from .dataset import prepare_features

    chosen = apply_recipe(click.get_current_context(), PREPARE_RECIPES, recipe,
                          {"kind": kind, "n_mels": n_mels, "normalization": normalization, "top_db": top_db})
    kind, n_mels, normalization, top_db = chosen["kind"], chosen["n_mels"], chosen["normalization"], chosen["top_db"]
    try:
        if kind == "musicnn":
            ctx = click.get_current_context()
            given = [f"--{name.replace('_', '-')}" for name in ("n_mels", "fmax", "top_db")
                     if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT]
            if given:
                raise ConfigError(f"--kind musicnn fixes the whole front end but --normalization; drop {', '.join(given)}")
            config = FeatureConfig.musicnn(normalization=normalization)
        else:
            config = FeatureConfig(kind=kind, normalization=normalization, n_mels=n_mels, fmax=fmax, top_db=top_db)
        config.check_mel_filters()  # a model trained on these features would be refused at load
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from edge_genre.cli_support import ensure_directory, ensure_writable
    from edge_genre.paths import check_distinct_paths

    from .dataset import DatasetError, discover_clips

    # Check the outputs before the (long) feature computation, so that no work is lost.
    npz = out if out.suffix == ".npz" else out / "features.npz"
    outputs = {"--out": npz, "--paper-json": paper_json}
    check_distinct_paths({"the --artists index": artist_index}, outputs)
    if npz is not out:
        ensure_directory(out)
    ensure_writable(npz, "feature cache")
    if paper_json:
        ensure_writable(paper_json, "papers' JSON")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicates etc. are reported once, by prepare_features below
            clips = discover_clips(list(data_dirs))[0]
    except DatasetError:
        clips = []  # reported by prepare_features below
    for clip in clips:  # an output over an input clip would destroy the data set
        check_distinct_paths({f"input clip {clip.path.name}": clip.path}, outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped clips are listed below
        fs, skipped = prepare_features(list(data_dirs), config, workers=workers, short=short,
                                       artist_index=artist_index)
    for msg in skipped:
        click.echo(f"warning: left out {msg}", err=True)
    path = fs.save(npz)
    if paper_json:
        fs.to_paper_json(paper_json)
    songs, _, groups = fs.song_table()
    facts = [f"{len(fs.y)} windows of {len(songs)} clips", f"{len(fs.labels)} labels ({', '.join(fs.labels)})",
             f"features {fs.config.feature_shape}"]
    if fs.short_clips:
        facts.append(f"{fs.short_clips} clips shorter than a window ({fs.short_policy})")
    if fs.artist is not None:
        unknown = sum(str(g).startswith(UNKNOWN_ARTIST) for g in groups)
        named = len({str(g) for g in groups if not str(g).startswith(UNKNOWN_ARTIST)})
        facts.append(f"{named} artists" + (f" + {unknown} clips the index names no artist for" if unknown else ""))
    if skipped:
        facts.append(f"{len(skipped)} folders, files or clips left out (listed above)")
    click.echo(f"{path}: " + ", ".join(facts))


def _fit_options(f):
    options = [
        click.option("--features", "features_path", required=True, type=click.Path(path_type=Path), help="Feature cache from 'train prepare'."),
        click.option("--model", type=click.Choice(["crnn", "cnn", "lstm", "musicnn"]), default="crnn", show_default=True,
                     help="crnn: the reduced CRNN (the default model); cnn / lstm: Mirsepassi's baselines; musicnn: the "
                          "large model, the pretrained MSD_musicnn backbone (frozen) with a genre head fitted on its "
                          "embedding (needs a '--kind musicnn' cache and musicnn installed; --epochs, --lr, --dropout "
                          "do not apply)."),
        click.option("--dropout/--no-dropout", default=True, show_default=True, help="The paper's 'with dropout' variant."),
        click.option("--lr", type=FiniteFloatRange(0, 10, min_open=True), default=1e-3, show_default=True,
                     help="Adam learning rate."),
        click.option("--epochs", type=click.IntRange(1), default=100, show_default=True,
                     help="Passes over the training windows (see --keep for which epoch's weights are kept)."),
        click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True,
                     help="Windows per training step."),
        click.option("--split", type=click.Choice(("auto", *SPLITS)), default="auto", show_default=True,
                     help="auto: artist-holdout when the feature cache knows artists (prepare --artists), else track. "
                          "paper/mirsepassi: random over windows (leaky, the papers' protocol); track: grouped by clip "
                          "(60/20/20); kfold: k folds grouped by clip; holdout: two clips per genre held out; filtered: "
                          "the fault-filtered lists; artist: k folds grouped by artist (music by unseen artists); "
                          "artist-holdout: songs of a few artists per genre held out."),
        click.option("--folds", type=click.IntRange(2), default=5, show_default=True, help="Folds for --split kfold or artist."),
        click.option("--split-lists", type=click.Path(path_type=Path), default=None, help="Folder of {train,valid,test}_filtered.txt for --split filtered."),
        click.option("--lstm-units", type=click.IntRange(1), default=64, show_default=True, help="Units per direction of the CRNN's BiLSTMs."),
        click.option("--stratify", type=click.Choice(["genre", "kmeans"]), default="genre", show_default=True,
                     help="kmeans: stratify splits by genre x K-means cluster (Mirsepassi's 'with K-means' variant)."),
        click.option("--keep", type=click.Choice(["last", "best"]), default="last", show_default=True,
                     help="Weights to keep: the last epoch's (the papers' protocol) or the epoch with the best "
                          "validation accuracy (the test set is never looked at)."),
        click.option("--weighting", type=click.Choice(["song", "window"]), default="song", show_default=True,
                     help="song: every training song weighs the same (a 30-s clip's ten windows as much as a 3-s "
                          "excerpt's one); window: every window weighs the same."),
        click.option("--distill", type=click.Path(path_type=Path), default=None, metavar="TEACHER",
                     help="Learn from the teacher outputs in TEACHER ('train teacher --out TEACHER' on the same feature "
                          "cache): the genre target mixes the label with the teacher's cross-fitted genre "
                          "probabilities, and a second head regresses the teacher's embedding (dropped at export)."),
        click.option("--distill-alpha", type=FiniteFloatRange(0, 1), default=0.5, show_default=True,
                     help="Share of the teacher's genre probabilities in the genre target (0: labels only)."),
        click.option("--distill-embedding", type=FiniteFloatRange(0), default=1.0, show_default=True,
                     help="Weight of the teacher-embedding regression loss (0: none)."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the split, the weight initialisation and the augmentation."),
        click.option("--quiet", is_flag=True,
                     help="No per-epoch bars; the steps (augmentation, each fold, the result) still report."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _resolve_split(split: str, fs) -> str:
    """``auto``: keep each artist on one side when the cache knows artists, else each song."""
    if split != "auto":
        return split
    return "artist-holdout" if fs.artist is not None else "track"


def _fit_config(**kw):
    from .fit import FitConfig

    return FitConfig(model=kw["model"], dropout=kw["dropout"], lr=kw["lr"], epochs=kw["epochs"], batch_size=kw["batch_size"],
                     split=kw["split"], seed=kw["seed"], folds=kw["folds"],
                     split_lists=str(kw["split_lists"]) if kw["split_lists"] else None, lstm_units=kw["lstm_units"],
                     stratify=kw["stratify"], keep=kw["keep"], weighting=kw["weighting"],
                     distill=str(Path(kw["distill"]).resolve()) if kw["distill"] else None,
                     distill_alpha=kw["distill_alpha"], distill_embedding=kw["distill_embedding"])


@train.command()
@_fit_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory to write.")
@click.option("--augment", default=None, metavar="SPEC",
              help="Add degraded copies of the training clips: 'robust' (random combinations of bandlimit, "
                   "noise-white|pink|babble, gain, reverb, mic-eq), 'paper' (time-stretch, pitch-shift, noise) "
                   "or a comma list of degradation names ('a|b': one of a, b; 'name@0.8': used in 80 % of the copies "
                   "instead of 50 %). Never touches valid/test windows.")
@click.option("--augment-copies", type=click.IntRange(1), default=2, show_default=True,
              help="Degraded copies per training clip (with --augment).")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="With --augment: the GTZAN folder to read the clips from, when it moved since 'train prepare' "
                   "(each clip is looked up as <genre>/<file>)  [default: the folder the cache records].")
@click.option("--only-folds", default=None, metavar="I,J",
              help="With --split kfold: train only these folds (0-based) of the same partition, e.g. '0' to "
                   "screen a recipe on one fold; the summary says it is not the full estimate.")
@click.option("--resume", is_flag=True,
              help="Keep the folds already trained in --out with the same recipe and features (an interrupted "
                   "k-fold run, or --only-folds runs completed later) instead of training them again.")
@click.option("--overwrite", is_flag=True,
              help="Replace the run already in --out (without it, or --resume, an existing run is refused).")
@click.option("--recipe", type=click.Choice(sorted(FIT_RECIPES)), default=None,
              help="shipped: the shipped model's recipe (--model crnn --lstm-units 40 --epochs 60 --lr 0.001 "
                   "--weighting song --augment robust --augment-copies 4; add --distill TEACHER to learn from "
                   "the teacher as it did); options you give win.")
def fit(features_path: Path, out: Path, quiet: bool, augment: str | None, augment_copies: int,
        data_dir: Path | None, only_folds: str | None, resume: bool, overwrite: bool, recipe: str | None,
        **kw) -> None:
    """Train a model and write a run directory with metrics, plots and the model.

    metrics.json has window- and track-level accuracy (track = argmax of the mean
    window probabilities), weighted precision/recall/F1, the per-class report,
    trainable parameters and ms per training step; summary.md shows them with
    the confusion matrix, ROC curves and training curves. With --augment the
    recipe is recorded in metrics.json under config.extra.augment.
    """
    from .dataset import FeatureSet
    from .fit import fit as run_fit
    from .rundir import check_run_dir, locked_run_dir

    check_run_dir(out, resume=resume, overwrite=overwrite)  # before the features are even loaded
    kw = apply_recipe(click.get_current_context(), FIT_RECIPES, recipe,
                      {**kw, "augment": augment, "augment_copies": augment_copies})
    augment, augment_copies = kw.pop("augment"), kw.pop("augment_copies")
    fs = FeatureSet.load(features_path)
    kw["split"] = _resolve_split(kw["split"], fs)
    cfg = _fit_config(**kw)
    if recipe:
        cfg.extra["recipe"] = recipe
    if cfg.distill:
        from .teacher import TeacherCache

        TeacherCache.load(Path(cfg.distill), fs)  # a missing or mismatched teacher cache fails before any work
    override = None
    if augment:
        from .augment import Augmenter, parse_augment

        try:
            augment_recipe = parse_augment(augment, copies=augment_copies, seed=cfg.seed)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--augment") from None
        override = Augmenter(fs, augment_recipe, progress=True, data_dir=data_dir)  # --quiet: no epoch bars, still this
        cfg.extra["augment"] = augment_recipe.to_dict()
    folds = None
    if only_folds is not None:
        try:
            folds = sorted({int(part) for part in only_folds.split(",") if part.strip()})
        except ValueError:
            raise click.BadParameter(f"expected fold indices like '0' or '0,2', got {only_folds!r}",
                                     param_hint="--only-folds") from None
        if not folds:
            raise click.BadParameter("no fold given", param_hint="--only-folds")
    if data_dir is not None and not augment:
        raise click.UsageError("--data is used by --augment (the clean features are in the cache)")
    with locked_run_dir(out):
        metrics = run_fit(fs, cfg, out, progress=not quiet, train_override=override, only_folds=folds, resume=resume)
    _echo_result(out, metrics)


def _echo_result(out: Path, m: dict) -> None:
    proto = m.get("protocol") or ("window-leaky" if m.get("leaky_split") else "clip-grouped")
    if "accuracy_mean" in m:
        total = m.get("folds_total", m["folds"])
        scope = f"{total}-fold" if m["folds"] == total else f"{m['folds']} of {total} folds ({', '.join(m['folds_run'])}):"
        click.echo(f"{out}: {proto}, {scope} song accuracy {100 * m['track_accuracy_mean']:.2f} ± "
                   f"{100 * m['track_accuracy_std']:.2f} %, window accuracy {100 * m['accuracy_mean']:.2f} ± "
                   f"{100 * m['accuracy_std']:.2f} %")
        if m.get("song_recall"):
            click.echo("  song recall: " + ", ".join(f"{g} {'-' if r is None else f'{100 * r:.0f}'}"
                                                     for g, r in m["song_recall"].items()))
    else:
        click.echo(f"{out}: {proto}, song accuracy {100 * m['track_accuracy']:.2f} % ({m['tracks']} songs), "
                   f"window accuracy {100 * m['accuracy']:.2f} % ({m['windows_correct']}/{m['windows']}), "
                   f"loss {m['loss']:.4f}, {m['trainable_parameters']:,} trainable parameters"
                   + (f", {m['ms_per_step']} ms/step" if m["ms_per_step"] is not None else ""))


def _learning_rates(ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    """``--lrs``: finite positive learning rates, checked before any training."""
    rates = []
    for part in value.split(","):
        try:
            rate = float(part)
        except ValueError:
            raise click.BadParameter(f"{part.strip()!r} is not a number (expected e.g. 0.01,0.001)") from None
        if not (math.isfinite(rate) and 0 < rate <= 10):
            raise click.BadParameter(f"{part.strip()!r}: a learning rate is a finite number above 0 (at most 10)")
        rates.append(rate)
    return rates


@train.command()
@click.option("--features", "features_path", required=True, type=click.Path(path_type=Path),
              help="Feature cache from 'train prepare' (the papers' MFCCs for Table 2).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the runs and table2.md.")
@click.option("--lrs", default="0.1,0.01,0.001,0.0001", show_default=True, callback=_learning_rates,
              help="Comma-separated learning rates.")
@click.option("--epochs", type=click.IntRange(1), default=100, show_default=True,
              help="Passes over the training windows of every run.")
@click.option("--split", type=click.Choice(SPLITS), default="paper", show_default=True,
              help="How windows are split into train/valid/test ('paper': the papers' window-leaky 70/10/20).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and the initialisation.")
@click.option("--quiet", is_flag=True, help="No per-epoch bars; each run still reports when it starts and ends.")
@click.option("--overwrite", is_flag=True, help="Replace the runs already in --out (without it they are refused).")
def sweep(features_path: Path, out: Path, lrs: list[float], epochs: int, split: str, seed: int, quiet: bool,
          overwrite: bool) -> None:
    """The paper's grid: learning rates x (without, with) dropout, as a Table-2-shaped markdown table."""
    from .dataset import FeatureSet
    from .fit import FitConfig
    from .fit import fit as run_fit
    from .rundir import check_run_dir, locked_run_dir

    check_run_dir(out, overwrite=overwrite)
    fs = FeatureSet.load(features_path)
    rows = []
    with locked_run_dir(out):
        for dropout in (False, True):
            for lr in lrs:
                name = f"{'dropout' if dropout else 'nodropout'}-lr{lr:g}"
                cfg = FitConfig(model="crnn", dropout=dropout, lr=lr, epochs=epochs, split=split, seed=seed)
                m = run_fit(fs, cfg, out / name, progress=not quiet)
                _echo_result(out / name, m)
                rows.append((dropout, lr, m))
        (out / "table2.md").write_text(table2_markdown(rows, split, epochs))
    click.echo(f"{out / 'table2.md'} written")


def table2_markdown(rows, split: str, epochs: int) -> str:
    def ours(m, key):
        return f"{100 * m[key + '_mean']:.2f} ± {100 * m[key + '_std']:.2f}" if key + "_mean" in m else f"{100 * m[key]:.2f}"

    lines = [f"Split `{split}`, {epochs} epochs. Ours: gtzan-mini (100 clips); paper: full GTZAN (999 clips). "
             "Loss in % as in the paper (0.5195 -> 51.95).\n",
             "| dropout | lr | accuracy (ours / paper) | loss | precision | recall | F1 | track acc. (ours) |",
             "|---|---|---|---|---|---|---|---|"]
    for dropout, lr, m in rows:
        paper = PAPER_TABLE2.get((dropout, lr))
        pa = (lambda i: f"{paper[i]:.2f}") if paper else (lambda i: "-")
        loss = f"{100 * m['loss_mean']:.2f}" if "loss_mean" in m else f"{100 * m['loss']:.2f}"
        lines.append(f"| {'with' if dropout else 'without'} | {lr:g} | {ours(m, 'accuracy')} / {pa(0)} | {loss} / {pa(1)} | "
                     f"{ours(m, 'precision')} / {pa(2)} | {ours(m, 'recall')} / {pa(3)} | {ours(m, 'f1')} / {pa(4)} | "
                     f"{ours(m, 'track_accuracy')} |")
    return "\n".join(lines) + "\n"


@train.command("teacher")
@click.option("--features", "features_path", required=True, type=click.Path(path_type=Path), help="Feature cache from 'train prepare'.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Folder for teacher.npz (the teacher's outputs for every window) and the baseline's metrics.json/summary.md.")
@click.option("--split", type=click.Choice(SPLITS), default="artist", show_default=True,
              help="Split of the teacher baseline (use the student's split and seed to compare on the same folds).")
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True,
              help="Folds of the cross-validation (with a k-fold --split).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold assignment.")
@click.option("--split-lists", type=click.Path(path_type=Path), default=None, help="For --split filtered.")
@click.option("--recompute", is_flag=True, help="Run the teacher again even if --out holds its outputs for this cache.")
@click.option("--mix", "mix_count", type=click.IntRange(0, 1_000_000), default=None, metavar="N",
              help="Also make N mixes of two windows of different songs and artists and let the teacher label them: "
                   "'fit --distill' trains on the mixes of each fold's own training songs.  [default: keep what "
                   "the cache holds]")
@click.option("--unlabeled", "unlabeled_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of your own music, no genres needed: its windows, labelled by the teacher, join every "
                   "fold's training with 'fit --distill' (keep it free of the songs you test on).")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The GTZAN folder to read the clips from, when it moved since 'train prepare'.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def teacher_cmd(features_path: Path, out: Path, split: str, folds: int, seed: int, split_lists: Path | None,
                recompute: bool, mix_count: int | None, unlabeled_dir: Path | None, data_dir: Path | None,
                quiet: bool) -> None:
    """Run the pretrained teacher (musicnn MSD_musicnn) on every window and fit the teacher baseline.

    The teacher's 200-d embedding and 50 tag probabilities of every window are
    cached in OUT/teacher.npz ('train fit --distill OUT' learns from them). The
    baseline is a logistic regression on the embeddings, fitted on each fold's
    training windows and scored on its test songs like the student, so every
    table can show the student beside its teacher. Needs musicnn
    (pip install --no-deps musicnn==0.1.0); training only.
    """
    from edge_genre.cli_support import ensure_directory

    from .dataset import FeatureSet
    from .fit import FitConfig, aggregate, dataset_facts, kfold_summary
    from .splits import fold_contents, make_folds
    from .teacher import (MODEL, ExtraWindows, Musicnn, TeacherCache, TeacherError, compute_teacher, mixed_windows,
                          teacher_baseline, unlabeled_windows)

    fs = FeatureSet.load(features_path)
    ensure_directory(out)
    cache_path = out / "teacher.npz"
    cache = None
    if cache_path.is_file() and not recompute:
        try:
            cache = TeacherCache.load(cache_path, fs)
            click.echo(f"{cache_path}: teacher outputs for this feature cache found, reused (--recompute to redo)")
        except TeacherError:
            cache = None
    if cache is None:
        cache, failed = compute_teacher(fs, progress=not quiet, data_dir=data_dir)
        for msg in failed:
            click.echo(f"warning: teacher skipped {msg}", err=True)
        click.echo(f"{cache_path}: {MODEL} embeddings {cache.embedding.shape[1]}-d and {len(cache.tag_names)} tags "
                   f"for {len(cache.clip)} windows")
    if mix_count is not None or unlabeled_dir is not None:
        teacher = Musicnn()
        extra = ExtraWindows.empty(fs.config.feature_shape)
        if mix_count:
            extra = extra + mixed_windows(fs, mix_count, seed=seed, progress=not quiet, teacher=teacher)
        if unlabeled_dir is not None:
            found, failed = unlabeled_windows(unlabeled_dir, fs.config, fs.short_policy, progress=not quiet,
                                              teacher=teacher)
            for msg in failed:
                click.echo(f"warning: skipped {msg}", err=True)
            extra = extra + found
        cache.extra = extra
        kinds = {k: int((extra.kind == k).sum()) for k in ("mix", "unlabeled")}
        click.echo(f"{cache_path}: extra teacher-labelled windows: {kinds['mix']} mixes, {kinds['unlabeled']} of unlabeled music")
    cache.save(cache_path)
    cfg = FitConfig(model=f"teacher baseline ({MODEL} embedding + logistic regression)", split=split, seed=seed,
                    folds=folds, split_lists=str(split_lists) if split_lists else None)
    fold_list = make_folds(fs, split, seed=seed, k=folds, lists_dir=split_lists)
    results = teacher_baseline(fs, cache, fold_list)
    metrics = aggregate(results, cfg, fs.labels) if len(results) > 1 else {**results[0], "protocol": cfg.split}
    if len(results) > 1:
        metrics.update({"folds_run": [f.name for f in fold_list], "folds_total": folds, "data": dataset_facts(fs),
                        "fold_contents": fold_contents(fs, fold_list) if fs.artist is not None else None,
                        "per_fold_detail": results})
        (out / "summary.md").write_text(kfold_summary(metrics, cfg))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if len(results) > 1:
        _echo_result(out, metrics)


@train.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for <name>_float.tflite and <name>_int8.tflite.")
@click.option("--name", default="model", show_default=True, callback=_file_stem,
              help="File name stem: writes NAME_float.tflite and NAME_int8.tflite in --out.")
@click.option("--calibration-windows", type=click.IntRange(1), default=None,
              help="Training windows used to calibrate the int8 ranges (never test windows)  [default: all].")
@click.option("--trust/--no-trust", default=True, show_default=True,
              help="Fit and store the calibration temperature and the not-music detector (about 3 minutes: it "
                   "generates non-music and a degraded copy of every song).")
@click.option("--not-music", "not_music_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Real recordings that are not music, to report the detector's reject rate on.")
@click.option("--temperature-from", type=click.Path(exists=True, path_type=Path), default=None, metavar="TRUST",
              help="Use the temperature pooled over the held-out songs of a k-fold run of the same recipe "
                   "('train calibrate CV --out TRUST': TRUST/trust.json) instead of fitting it on this run's few "
                   "validation songs.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the export report (paths, sizes, ops, quantization, held-out accuracies, calibration and "
                   "not-music figures) as one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def export_cmd(run_dir: Path, out: Path, name: str, calibration_windows: int | None, trust: bool,
               not_music_dir: Path | None, temperature_from: Path | None, as_json: bool, quiet: bool) -> None:
    """Convert a run's model to float and full-integer int8 TFLite with embedded labels and FeatureConfig.

    Prints size, op list, int8 input/output quantization, and the accuracy of
    the Keras, float and int8 models on the run's held-out windows with the
    float-vs-int8 top-1 agreement. Fails if the op list holds unexpected ops.
    Then (unless --no-trust) fits the calibration temperature on the run's
    validation songs and the music detector on its training songs against
    generated non-music, stores both in the two files, and reports them on
    the held-out songs (see 'train calibrate').
    """
    from edge_genre.cli_support import ensure_directory

    from .export import export_run

    ensure_directory(out, create=False)

    r = export_run(run_dir, out, name=name, calibration_windows=calibration_windows, trust=trust,
                   not_music_dir=not_music_dir, progress=not quiet, temperature_from=temperature_from)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    for kind in ("float", "int8"):
        k = r[kind]
        acc = f", held-out accuracy {100 * k['accuracy']:.2f} %" if "accuracy" in k else ""
        click.echo(f"{k['path']}: {k['size_bytes'] / 1024:.1f} KiB{acc}")
        click.echo(f"  ops: {', '.join(k['ops'])}")
    q = r["int8"].get("input_quantization")
    if q:
        oq = r["int8"]["output_quantization"]
        click.echo(f"  int8 input scale {q['scale']:.6g} zero point {q['zero_point']}; output scale {oq['scale']:.6g} zero point {oq['zero_point']}")
    if "top1_agreement" in r:
        click.echo(f"held-out windows: {r['held_out_windows']}; Keras {100 * r['keras_accuracy']:.2f} %, "
                   f"float {100 * r['float']['accuracy']:.2f} %, int8 {100 * r['int8']['accuracy']:.2f} %, "
                   f"float/int8 top-1 agreement {100 * r['top1_agreement']:.2f} %")
        click.echo(f"held-out songs: {r['held_out_songs']}; float {100 * r['float']['song_accuracy']:.2f} %, "
                   f"int8 {100 * r['int8']['song_accuracy']:.2f} %, float/int8 agreement {100 * r['song_agreement']:.2f} %")
    t = r.get("trust")
    if t:
        line = f"calibration: temperature {t['temperature']:.3f}"
        if "songs" in t:
            so = t["songs"]
            line += (f"; held-out songs ECE {so['ece_before']:.3f} -> {so['ece_after']:.3f} (sampling floor "
                     f"{so['ece_floor']:.3f} on {so['n']} songs)")
        click.echo(line)
        nm = t["not_music"]
        line = f"not music: threshold {t['music_threshold']:.3f}; generated non-music rejected {100 * nm['generated_rejected']:.1f} %"
        if nm["real_windows"]:
            line += f", real recordings {100 * nm['real_rejected']:.1f} %"
        if "songs" in t:
            line += f"; held-out music songs keeping a genre {100 * t['songs']['music_kept']:.1f} %"
        click.echo(line)


def _register_analysis_commands() -> None:
    from .analysis_cli import compare, kmeans
    from .evaluation_cli import calibrate_cmd, robustness_cmd, robustness_compare_cmd

    for command in (kmeans, compare, calibrate_cmd, robustness_cmd, robustness_compare_cmd):
        train.add_command(command)


_register_analysis_commands()
