"""K-means cluster analysis of MFCC windows (Mirsepassi 2025).

Ten clusters over standardised, flattened windows; per-genre purity (the share
of a genre's windows in its most common cluster) and per-cluster purity; a
t-SNE picture coloured by genre. :func:`cluster_windows` also provides the
strata of the "with K-means" split variant (genre x cluster).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .dataset import FeatureSet


def window_vectors(fs: FeatureSet, n_components: int = 50, seed: int = 0) -> np.ndarray:
    """Flattened windows, standardised per dimension and reduced with PCA."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    flat = StandardScaler().fit_transform(fs.x.reshape(len(fs.x), -1))
    return PCA(n_components=min(n_components, *flat.shape), random_state=seed).fit_transform(flat)


def cluster_windows(fs: FeatureSet, k: int = 10, seed: int = 0) -> np.ndarray:
    """K-means cluster index of every window (deterministic for a seed)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(window_vectors(fs, seed=seed))


def kmeans_strata(fs: FeatureSet, k: int = 10, seed: int = 0, min_count: int = 5) -> np.ndarray:
    """Genre x cluster strata for the "with K-means" splits.

    Windows in combinations with fewer than ``min_count`` windows (too rare to
    spread over the sides of a split) join their genre's most common combination.
    """
    strata = fs.y * k + cluster_windows(fs, k, seed)
    values, counts = np.unique(strata, return_counts=True)
    rare = np.isin(strata, values[counts < min_count])
    for genre in np.unique(fs.y[rare]):
        own = values[values // k == genre]
        strata[rare & (fs.y == genre)] = own[np.argmax(counts[values // k == genre])]
    return strata


def purity(fs: FeatureSet, clusters: np.ndarray) -> dict:
    k = int(clusters.max()) + 1
    table = np.zeros((len(fs.labels), k), dtype=int)
    np.add.at(table, (fs.y, clusters), 1)
    per_genre = {}
    for g, name in enumerate(fs.labels):
        row = table[g]
        per_genre[name] = {"top_cluster": int(row.argmax()), "purity": float(row.max() / row.sum()),
                           "clusters_used": int((row > 0).sum()), "counts": row.tolist()}
    per_cluster = {}
    for c in range(k):
        col = table[:, c]
        per_cluster[str(c)] = {"majority_genre": fs.labels[int(col.argmax())], "purity": float(col.max() / max(1, col.sum())),
                               "windows": int(col.sum())}
    overall = float(table.max(axis=0).sum() / table.sum())
    return {"clusters": k, "overall_purity": overall, "per_genre": per_genre, "per_cluster": per_cluster,
            "table": table.tolist(), "labels": list(fs.labels)}


def purity_markdown(result: dict) -> str:
    k = result["clusters"]
    lines = ["Windows per genre (rows) and K-means cluster (columns); purity = share of the genre's windows in its top cluster.\n",
             "| genre | " + " | ".join(f"c{c}" for c in range(k)) + " | top cluster | purity | clusters used |",
             "|---|" + "---|" * (k + 3)]
    for name, row in zip(result["labels"], result["table"]):
        g = result["per_genre"][name]
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) +
                     f" | c{g['top_cluster']} | {100 * g['purity']:.0f} % | {g['clusters_used']} |")
    lines.append(f"\nOverall cluster purity (majority genre per cluster): {100 * result['overall_purity']:.1f} %.\n")
    return "\n".join(lines)


def tsne_plot(fs: FeatureSet, clusters: np.ndarray, path: Path, seed: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    emb = TSNE(n_components=2, random_state=seed, init="pca", perplexity=30).fit_transform(window_vectors(fs, seed=seed))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.5))
    cmap = plt.get_cmap("tab10")
    for g, name in enumerate(fs.labels):
        m = fs.y == g
        a1.scatter(emb[m, 0], emb[m, 1], s=6, color=cmap(g % 10), label=name)
    a1.set_title("t-SNE of MFCC windows, coloured by genre")
    a1.legend(markerscale=3, fontsize=8)
    for c in range(int(clusters.max()) + 1):
        m = clusters == c
        a2.scatter(emb[m, 0], emb[m, 1], s=6, color=cmap(c % 10), label=f"cluster {c}")
    a2.set_title("the same windows, coloured by K-means cluster")
    a2.legend(markerscale=3, fontsize=8)
    for ax in (a1, a2):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_kmeans(fs: FeatureSet, out_dir: Path, k: int = 10, seed: int = 0, plot: bool = True) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clusters = cluster_windows(fs, k, seed)
    result = purity(fs, clusters)
    (out_dir / "purity.json").write_text(json.dumps(result, indent=2))
    (out_dir / "purity.md").write_text(purity_markdown(result))
    if plot:
        tsne_plot(fs, clusters, out_dir / "tsne.png", seed)
    return result
