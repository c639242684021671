"""Every song we have, split by artist, and a teacher: ``train prepare`` over several roots with a
short-clip policy and an artist index, ``--split artist``, song weighting, ``train teacher`` and
``train fit --distill``.

Synthetic clips are written under tmp_path; the teacher check against musicnn's own extractor
reads the CC-BY demo clip from the shared data folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from edge_genre.cli import main

SR = 22050


def _tone(genre: str, k: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(abs(hash((genre, k))) % 2**32)
    t = np.arange(int(seconds * SR)) / SR
    base = {"blues": 110.0, "classical": 660.0, "metal": 0.0}[genre]
    y = 0.3 * np.sin(2 * np.pi * (base + 3 * k) * t) if base else 0.3 * rng.standard_normal(t.size)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def two_roots(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Root A: 6.5-s clips (two windows each); root B: 2.5-s excerpts, one 0.5-s clip and a clip id
    already in A; an index naming the artists of most clips."""
    base = tmp_path_factory.mktemp("roots")
    a, b = base / "full" / "genres_original", base / "excerpts" / "genres_original"
    lines = ["# file ::: artist ::: title"]
    for genre in ("blues", "classical", "metal"):
        (a / genre).mkdir(parents=True)
        (b / genre).mkdir(parents=True)
        for k in range(4):
            sf.write(a / genre / f"{genre}.{k:05d}.wav", _tone(genre, k, 6.5), SR, subtype="PCM_16")
            lines.append(f"{genre}.{k:05d}.wav ::: {genre} artist {k % 2} ::: song {k}")
        for k in range(10, 16):
            sf.write(b / genre / f"{genre}.{k:05d}.wav", _tone(genre, k, 2.5), SR, subtype="PCM_16")
            artist = "" if k == 15 else f"{genre} excerpt artist {k}"
            lines.append(f"{genre}.{k:05d}.wav ::: {artist} ::: excerpt {k}")
    sf.write(b / "blues" / "blues.00020.wav", _tone("blues", 20, 0.5), SR)  # under the runtime's 1-s minimum
    sf.write(b / "metal" / "metal.00000.wav", _tone("metal", 0, 2.5), SR)  # the same song id as in root A
    index = base / "index.txt"
    index.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return a.parent, b.parent, index


def _prepare(roots, index, out, *extra):
    args = ["train", "prepare", "--data", str(roots[0]), "--data", str(roots[1]), "--out", str(out),
            "--kind", "logmel", "--n-mels", "32", "--normalization", "level", "--workers", "2", *extra]
    if index:
        args += ["--artists", str(index)]
    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def prepared(two_roots, tmp_path_factory):
    a, b, index = two_roots
    out = tmp_path_factory.mktemp("feat") / "all"
    res = _prepare((a, b), index, out)
    assert res.exit_code == 0, res.output
    return out, res.output


def test_prepare_reads_several_roots_pads_short_clips_and_knows_artists(prepared):
    from train.dataset import FeatureSet

    out, output = prepared
    fs = FeatureSet.load(out)
    songs = set(fs.clip.tolist())
    assert len(songs) == 3 * 4 + 3 * 6  # every song of both roots, the 0.5-s clip and the duplicate left out
    assert "blues.00020" not in songs
    assert (fs.clip == "metal.00000").sum() == 2  # root A's 6.5-s clip kept, not root B's excerpt
    assert (fs.clip == "blues.00010").sum() == 1  # an excerpt is one (padded) window
    assert fs.short_policy == "pad" and fs.short_clips == 3 * 6
    assert fs.artist is not None and fs.artist[list(fs.clip).index("blues.00001")] == "blues artist 1"
    assert fs.artist[list(fs.clip).index("classical.00015")] == "?classical.00015"  # unnamed: its own group
    assert "18 clips shorter than a window (pad)" in output and "blues.00020.wav" in output
    # 3 genres x (2 artists of full clips + 5 named excerpt artists); one excerpt per genre is unnamed
    assert "21 artists + 3 clips the index names no artist for" in output
    meta = json.loads(str(np.load(out / "features.npz")["meta"]))
    assert meta["short_policy"] == "pad" and meta["artist_index"].endswith("index.txt")


def test_short_clip_policies(two_roots, tmp_path):
    from train.dataset import FeatureSet

    a, b, _ = two_roots
    assert _prepare((a, b), None, tmp_path / "loop", "--short", "loop").exit_code == 0
    assert _prepare((a, b), None, tmp_path / "pad", "--short", "pad").exit_code == 0
    res = _prepare((a, b), None, tmp_path / "skip", "--short", "skip")
    assert res.exit_code == 0, res.output
    loop, pad, skip = (FeatureSet.load(tmp_path / name) for name in ("loop", "pad", "skip"))
    assert loop.short_policy == "loop" and skip.short_policy == "skip"
    assert len(set(skip.clip.tolist())) == 12 and "shorter than one 3-s window" in res.output
    row = list(pad.clip).index("blues.00011")
    # the padded excerpt's last frames are at the floor; the looped one's are music again
    tail_pad, tail_loop = pad.x[row, -10:].mean(), loop.x[row, -10:].mean()
    assert tail_loop > tail_pad + 10
    # the same music before the excerpt ends: equal up to the level centring's offset
    offset = pad.x[row, :50] - loop.x[row, :50]
    assert np.abs(offset - np.median(offset)).max() < 0.5


def test_fit_to_window_refuses_what_classify_refuses():
    from edge_genre.config import FeatureConfig
    from train.dataset import ShortClipError, fit_to_window

    config = FeatureConfig()
    with pytest.raises(ShortClipError, match="at least 1 s"):
        fit_to_window(np.ones(SR // 2, np.float32), config, "pad")
    looped = fit_to_window(np.arange(SR * 2, dtype=np.float32), config, "loop")
    assert looped.size == config.window_samples and looped[SR * 2] == 0.0 and looped[-1] == (config.window_samples - 1) % (SR * 2)


def test_artist_index_reader(tmp_path):
    from train.dataset import DatasetError, read_artist_index

    path = tmp_path / "index.txt"
    path.write_bytes("## comment\nblues.00000.wav ::: Bj\xf6rk ::: x\njazz.00001.au ::: Miles ::: y\npop.00002.wav :::  ::: z\n"
                     .encode("latin-1"))
    assert read_artist_index(path) == {"blues.00000": "Bj\xf6rk", "jazz.00001": "Miles"}
    path.write_text("nothing here\n")
    with pytest.raises(DatasetError, match="no 'file ::: artist ::: title' lines"):
        read_artist_index(path)


def _synthetic_set(artists_per_genre=(3, 6), songs_per_artist=3):
    from edge_genre.config import FeatureConfig
    from train.dataset import FeatureSet

    clips, ys, artists = [], [], []
    for g, n_artists in enumerate(artists_per_genre):
        for a in range(n_artists):
            for s in range(songs_per_artist):
                windows = 10 if s == 0 else 1  # one full clip per artist, the rest excerpts
                clips += [f"g{g}.a{a}.s{s}"] * windows
                ys += [g] * windows
                artists += [f"artist {g}.{a}"] * windows
    n = len(clips)
    return FeatureSet(np.zeros((n, 130, 13), np.float32), np.asarray(ys), np.asarray(clips), ("g0", "g1"),
                      FeatureConfig(), artist=np.asarray(artists))


def test_artist_split_keeps_every_artist_on_one_side_and_tests_every_song_once():
    from train.splits import fold_contents, make_folds

    fs = _synthetic_set()
    folds = make_folds(fs, "artist", seed=3, k=3)
    tested = []
    for fold in folds:
        sides = [set(fs.artist[idx].tolist()) for idx in (fold.train, fold.valid, fold.test)]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert len(fold.train) + len(fold.valid) + len(fold.test) == len(fs.y)
        assert set(fs.y[fold.test].tolist()) == {0, 1}  # stratified: both genres in every test fold
        tested += sorted(set(fs.clip[fold.test].tolist()))
    assert sorted(tested) == sorted(set(fs.clip.tolist()))
    contents = fold_contents(fs, folds)
    assert contents["artists_per_genre"] == {"g0": 3, "g1": 6} and contents["few_artists"] == []
    assert sum(row["test"]["g1"]["artists"] for row in contents["folds"]) == 6
    assert make_folds(fs, "artist", seed=3, k=3)[0].test.tolist() == folds[0].test.tolist()  # reproducible


def test_artist_split_explains_what_it_needs():
    from train.dataset import DatasetError
    from train.splits import make_folds

    fs = _synthetic_set()
    fs.artist = None
    with pytest.raises(DatasetError, match="--artists"):
        make_folds(fs, "artist", k=3)
    fs = _synthetic_set(artists_per_genre=(1, 2))
    with pytest.raises(DatasetError, match="cannot make 5 artist-grouped folds from 3 artists"):
        make_folds(fs, "artist", k=5)


def test_song_weights_make_every_song_count_the_same():
    from train.fit import song_weights

    clips = np.array(["full"] * 10 + ["excerpt"] + ["other"] * 2)
    w = song_weights(clips)
    assert w.mean() == pytest.approx(1.0)
    assert w[clips == "full"].sum() == pytest.approx(w[clips == "excerpt"].sum()) == pytest.approx(w[clips == "other"].sum())


def test_protocol_names():
    from train.splits import protocol

    assert [protocol(s) for s in ("paper", "mirsepassi", "kfold", "track", "holdout", "artist", "filtered")] == [
        "window-leaky", "window-leaky", "clip-grouped", "clip-grouped", "clip-grouped", "artist-grouped", "artist-grouped"]


# --- the teacher ------------------------------------------------------------------------------------

REFERENCE = """
import sys, numpy as np
from musicnn.extractor import batch_data, extractor
batch, _ = batch_data(sys.argv[1], 187, 187)
taggram, _, features = extractor(sys.argv[1], model="MSD_musicnn", extract_features=True)
np.savez(sys.argv[2], inputs=batch.astype(np.float32), tags=taggram, embedding=features["penultimate"])
"""


def _musicnn_reference(audio: Path, out: Path) -> dict:
    env = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", REFERENCE, str(audio), str(out)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return dict(np.load(out))


@pytest.fixture(scope="module")
def musicnn_installed():
    pytest.importorskip("tensorflow")
    pytest.importorskip("musicnn", reason="the teacher needs musicnn: pip install --no-deps musicnn==0.1.0 "
                                          "(.ci/run installs it)")


@pytest.mark.slow
def test_teacher_matches_musicnns_own_extractor_on_real_audio(musicnn_installed, data_dir, tmp_path):
    """Our front end + graph against musicnn's extractor (librosa, float16 spectrogram) on the first
    3-s patch of real music. The demo clip is scaled by 0.1 so that musicnn's float16 cast does not
    overflow (see the next test). Tolerances: input 5e-3 (float16 rounding of musicnn's spectrogram),
    tag probabilities 1e-3, embedding 5e-3 (measured: 1.2e-3, 3.6e-5, 5.3e-4)."""
    from train.teacher import Musicnn, teacher_input

    y, sr = sf.read(data_dir / "demo" / "vibe_ace.ogg", dtype="float32")
    clip = tmp_path / "quiet.wav"
    sf.write(clip, 0.1 * y[: 10 * sr], sr, subtype="FLOAT")
    ref = _musicnn_reference(clip, tmp_path / "ref.npz")
    from edge_genre.audio import load_audio

    ours = teacher_input(load_audio(clip, sr=16000)[:48000], 16000)
    assert np.isfinite(ref["inputs"][0]).all()
    assert np.abs(ours - ref["inputs"][0]).max() < 5e-3
    embedding, tags = Musicnn()(ours[None])
    # only the first patch: musicnn's extractor returns the first patch's embedding for every patch
    assert np.abs(tags[0] - ref["tags"][0]).max() < 1e-3
    assert np.abs(embedding[0] - ref["embedding"][0]).max() < 5e-3


@pytest.mark.slow
def test_teacher_input_stays_finite_where_musicnn_overflows(musicnn_installed, data_dir, tmp_path):
    from train.teacher import teacher_input

    y, sr = sf.read(data_dir / "demo" / "vibe_ace.ogg", dtype="float32")
    clip = tmp_path / "loud.wav"
    sf.write(clip, y[: 4 * sr], sr, subtype="FLOAT")
    ref = _musicnn_reference(clip, tmp_path / "ref.npz")
    assert not np.isfinite(ref["inputs"]).all()  # musicnn's float16 spectrogram overflows on this music
    from edge_genre.audio import load_audio

    ours = teacher_input(load_audio(clip, sr=16000)[:48000], 16000)
    assert np.isfinite(ours).all() and ours.max() > 4.8  # log10(10000 * mel + 1) past float16's 65504


@pytest.mark.slow
def test_teacher_and_distillation_end_to_end(musicnn_installed, prepared, tmp_path):
    import tf_keras as keras

    from train.dataset import FeatureSet
    from train.teacher import TeacherCache

    features, _ = prepared
    runner = CliRunner()
    res = runner.invoke(main, ["train", "teacher", "--features", str(features), "--out", str(tmp_path / "teacher"),
                               "--split", "artist", "--folds", "3", "--mix", "12", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "artist-grouped, 3-fold song accuracy" in res.output and "12 mixes, 0 of unlabeled music" in res.output
    fs = FeatureSet.load(features)
    cache = TeacherCache.load(tmp_path / "teacher", fs)
    assert cache.embedding.shape == (len(fs.y), 200) and cache.tags.shape == (len(fs.y), 50)
    assert np.isfinite(cache.embedding).all()
    mixes = cache.extra
    assert mixes.x.shape == (12, *fs.config.feature_shape) and np.isfinite(mixes.embedding).all()
    artist_of = dict(zip(fs.clip.tolist(), fs.artist.tolist()))
    assert all(artist_of[a] != artist_of[b] for a, b in mixes.sources)
    summary = (tmp_path / "teacher" / "summary.md").read_text()
    assert "artist-grouped" in summary and "What each fold tests" in summary
    # reused, not recomputed
    res = runner.invoke(main, ["train", "teacher", "--features", str(features), "--out", str(tmp_path / "teacher"),
                               "--folds", "3", "--quiet"])
    assert "reused" in res.output

    res = runner.invoke(main, ["train", "fit", "--features", str(features), "--split", "artist", "--folds", "3",
                               "--only-folds", "0", "--epochs", "2", "--lstm-units", "4", "--distill",
                               str(tmp_path / "teacher"), "--augment", "gain", "--augment-copies", "1",
                               "--out", str(tmp_path / "run"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "artist-grouped" in res.output and "song accuracy" in res.output
    model = keras.models.load_model(tmp_path / "run" / "fold0" / "model.keras")
    assert len(model.outputs) == 1 and model.output_shape == (None, 3)  # the embedding head is not saved
    fold = json.loads((tmp_path / "run" / "fold0" / "metrics.json").read_text())
    train_clips = set(json.loads((tmp_path / "run" / "fold0" / "run.json").read_text())["clips"]["train"])
    usable = sum(a in train_clips and b in train_clips for a, b in mixes.sources)
    assert fold["teacher_extra_rows"] == usable
    assert fold["training_rows"] == 2 * fold["sizes"]["train"] + usable  # clean + one gain copy + mixes
    history = json.loads((tmp_path / "run" / "fold0" / "history.json").read_text())
    assert "accuracy" in history and "val_accuracy" in history and "teacher_embedding_loss" in history
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["protocol"] == "artist-grouped" and metrics["config"]["distill"].endswith("teacher")
    assert metrics["data"]["short_policy"] == "pad" and set(metrics["song_recall"]) == {"blues", "classical", "metal"}


def test_extra_windows_a_fold_may_use():
    from train.teacher import ExtraWindows

    extra = ExtraWindows(np.zeros((4, 2, 2), np.float32), np.zeros((4, 200), np.float32), np.zeros((4, 50), np.float32),
                         np.array([("a", "b"), ("a", "test"), ("mine.wav", ""), ("b", "c")]),
                         np.array(["mix", "mix", "unlabeled", "mix"]))
    assert extra.usable_for({"a", "b", "c"}).tolist() == [0, 2, 3]
    assert extra.usable_for({"a", "b"}).tolist() == [0, 2]  # never a mix with a song outside training


def test_distill_refuses_a_teacher_cache_of_other_features(prepared, tmp_path):
    from train.dataset import FeatureSet
    from train.teacher import TeacherCache

    features, _ = prepared
    fs = FeatureSet.load(features)
    wrong = TeacherCache(np.zeros((3, 200), np.float32), np.zeros((3, 50), np.float32), fs.clip[:3], ["t"] * 50,
                         "MSD_musicnn", "elsewhere.npz")
    wrong.save(tmp_path / "teacher.npz")
    res = CliRunner().invoke(main, ["train", "fit", "--features", str(features), "--split", "artist", "--folds", "3",
                                    "--distill", str(tmp_path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "computed for another feature cache" in res.output and "Traceback" not in res.output


def test_fit_defaults_to_a_split_that_keeps_songs_and_artists_on_one_side():
    from train.cli import _resolve_split

    fs = _synthetic_set()
    assert _resolve_split("auto", fs) == "artist-holdout"
    fs.artist = None
    assert _resolve_split("auto", fs) == "track"
    assert _resolve_split("paper", fs) == "paper"  # the papers' leaky protocol only when asked for


def test_artist_holdout_holds_out_few_songs_per_genre_by_artists_never_trained_on():
    from train.splits import make_folds

    fs = _synthetic_set(artists_per_genre=(4, 6), songs_per_artist=2)
    fold = make_folds(fs, "artist-holdout", seed=1)[0]
    sides = [set(fs.artist[idx].tolist()) for idx in (fold.train, fold.valid, fold.test)]
    assert not sides[0] & sides[2] and not sides[1] & sides[2] and not sides[0] & sides[1]
    test_songs = sorted(set(fs.clip[fold.test].tolist()))
    assert {s.split(".")[0] for s in test_songs} == {"g0", "g1"}
    assert all(sum(s.startswith(g) for s in test_songs) <= 3 for g in ("g0", "g1"))
    assert len(fold.train) + len(fold.valid) + len(fold.test) == len(fs.y)
