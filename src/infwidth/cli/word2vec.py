"""``infwidth word2vec train|eval|export|pca``: CBOW at finite widths, its muP limit and the NTK baseline."""

from __future__ import annotations

from pathlib import Path

import typer

from infwidth.cli.app import app
from infwidth.errors import UserError

w2v = typer.Typer(
    help="Word2Vec (CBOW, negative sampling): train finite muP/SP widths, the exact muP limit and the "
    "NTK baseline; evaluate analogies; draw the cities/states PCA figure.",
    no_args_is_help=True,
)
app.add_typer(w2v, name="word2vec")


def _int(name: str, text: str, *, allow_none: bool = False) -> int | None:
    if text == "":
        return None
    if allow_none and text.lower() in ("none", "all"):
        return None
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise UserError(f"{name} must be an integer (got {text!r})") from None
    return value


def _float(name: str, text: str) -> float | None:
    if text == "":
        return None
    from infwidth.cli._options import parse_float

    return parse_float(text, name)


@w2v.command("train")
def train(
    config: str = typer.Option("small", "--config", help="Preset: small (minutes), paper-text8, tiny (the tour's)."),
    models: str = typer.Option("", "--models", help="Comma list: mup:WIDTH, sp:WIDTH, limit, ntk, ntk:WIDTH."),
    out: Path = typer.Option(Path("runs/word2vec"), "--out", help="Output directory (run.json, one folder per model)."),
    data: Path = typer.Option(None, "--data", help="Data directory (default: $INFWIDTH_DATA)."),
    corpus: str = typer.Option("", "--corpus", help="'data' (the data directory's text), 'sample', or a text/archive path."),
    max_chars: str = typer.Option("", "--max-chars", help="Prefix of the normalized stream in characters ('all' for everything)."),
    vocab_cap: str = typer.Option("", "--vocab-cap", help="Keep only the most frequent words ('none' for no cap)."),
    min_count: str = typer.Option("", "--min-count", help="Drop words seen fewer times."),
    epochs: str = typer.Option("", "--epochs"),
    batch_size: str = typer.Option("", "--batch-size", help="Target words per vectorized step (1 = word2vec's order)."),
    lr: str = typer.Option("", "--lr", help="Initial learning rate (decays linearly to 1e-4 of it)."),
    seed: str = typer.Option("", "--seed"),
    storage: str = typer.Option("", "--storage", help="Stored matrices: float32 (default) or bfloat16 "
                                "(half the memory; float32 arithmetic, stochastic rounding)."),
    memory_limit: str = typer.Option("", "--memory-limit", help="Refuse models needing more, e.g. 8GB (default: total RAM)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different run in --out."),
    device: str = typer.Option("auto", "--device"),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads (1 is fastest for these small sparse steps)."),
    step: str = typer.Option("auto", "--step", help="auto, kernel (the fused CPU step) or torch (the step GPUs run); "
                             "the same update up to float rounding."),
    checkpoint_minutes: str = typer.Option("5", "--checkpoint-minutes", help="Checkpoint this often (and every epoch)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train every model of the config, evaluate analogies, write OUT/run.json and a results table."""
    from dataclasses import replace

    from infwidth.experiments.word2vec.config import PRESETS, parse_bytes
    from infwidth.experiments.word2vec.train import run

    if config not in PRESETS:
        raise UserError(f"unknown --config {config!r}; choose from {', '.join(PRESETS)}")
    cfg = PRESETS[config]
    changes = {
        "models": tuple(m.strip() for m in models.split(",") if m.strip()) if models else None,
        "corpus": corpus or None,
        "min_count": _int("--min-count", min_count),
        "epochs": _int("--epochs", epochs),
        "batch_size": _int("--batch-size", batch_size),
        "lr": _float("--lr", lr),
        "seed": _int("--seed", seed),
        "storage": storage or None,
    }
    cfg = cfg.with_(**changes)
    if max_chars:
        cfg = replace(cfg, max_chars=_int("--max-chars", max_chars, allow_none=True))
    if vocab_cap:
        cfg = replace(cfg, vocab_cap=_int("--vocab-cap", vocab_cap, allow_none=True))
    minutes = _float("--checkpoint-minutes", checkpoint_minutes)
    if minutes is None or minutes <= 0:
        raise UserError(f"--checkpoint-minutes must be positive (got {checkpoint_minutes!r})")
    if threads < 1:
        raise UserError(f"--threads must be >= 1 (got {threads})")
    limit = parse_bytes(memory_limit) if memory_limit else None
    results = run(
        cfg,
        out,
        data_dir=data,
        resume=resume,
        overwrite=overwrite,
        memory_limit=limit,
        device=device,
        progress=progress,
        checkpoint_seconds=60 * minutes,
        threads=threads,
        step=step,
    )
    from infwidth.experiments.word2vec.report import results_table

    typer.echo(results_table(results))
    typer.echo(f"run record: {out / 'run.json'}")


def _load_run(run_dir: Path, allow_empty: bool = False) -> tuple[dict, dict[str, Path]]:
    from infwidth.runs import read_run_record

    if not (run_dir / "run.json").is_file():
        raise UserError(f"{run_dir} holds no run (no run.json); pass the --out of 'infwidth word2vec train'")
    info = read_run_record(run_dir, "pass the --out of 'infwidth word2vec train' (or train again with --overwrite)")
    from infwidth.experiments.word2vec.train import VECTORS, model_dir_name

    models = info["config"].get("models")
    if not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
        raise UserError(f"{run_dir} is not a word2vec run (its run.json lists no word2vec models); "
                        "pass the --out of 'infwidth word2vec train'")
    vectors = {}
    for spec in models:
        path = run_dir / model_dir_name(spec) / VECTORS
        if path.is_file():
            vectors[spec] = path
    if not vectors and not allow_empty:
        raise UserError(f"{run_dir} has no trained vectors yet; finish it with 'infwidth word2vec train --resume'")
    return info, vectors


def _load_vectors(path: Path):
    from infwidth.runs import load_torch

    state = load_torch(path, f"delete {path.parent} and rerun 'infwidth word2vec train' with --resume to retrain that model",
                       keys=("words", "emb"))
    words, emb = state["words"], state["emb"]
    import torch

    if not (isinstance(emb, torch.Tensor) and emb.dim() == 2 and len(words) == emb.shape[0]):
        raise UserError(f"{path} does not hold a (words, embedding matrix) pair; train that model again")
    return words, emb


@w2v.command("eval")
def evaluate(
    run_dir: Path = typer.Option(None, "--run", help="A training output directory: evaluates every model in it."),
    vectors: Path = typer.Option(None, "--vectors", help="Or one word2vec-format file (text or binary)."),
    questions: Path = typer.Option(None, "--questions", help="questions-words.txt (default: the run's, or the shipped copy)."),
    data: Path = typer.Option(None, "--data", help="Data directory (for the run's questions)."),
    restrict: str = typer.Option("", "--restrict", help="Search only the N most frequent words (word2vec uses 30000)."),
    sections: bool = typer.Option(False, "--sections", help="Print the per-section table too."),
) -> None:
    """Analogy accuracy (3CosAdd, Google set) of a run's models or of a vectors file."""
    from infwidth.experiments.word2vec.analogy import (
        evaluate_analogies,
        format_table,
        load_analogies,
    )

    if (run_dir is None) == (vectors is None):
        raise UserError("pass exactly one of --run DIR or --vectors FILE")
    n = _int("--restrict", restrict)
    if n is not None and n < 1:
        raise UserError(f"--restrict must be >= 1 (got {n})")
    if run_dir is not None:
        info, paths = _load_run(run_dir)
        if questions is None:
            from infwidth.experiments.word2vec.config import TrainConfig
            from infwidth.experiments.word2vec.train import questions_source

            questions = questions_source(TrainConfig.from_dict(info["config"]), data)
        items = {spec: _load_vectors(p) for spec, p in paths.items()}
    else:
        from infwidth.experiments.word2vec.export import load_word2vec

        if not vectors.is_file():
            raise UserError(f"vectors file {vectors} does not exist; pass a word2vec .bin or .txt file")
        words, mat = load_word2vec(vectors)
        items = {vectors.name: (words, mat)}
        if questions is None:
            from infwidth.experiments.word2vec.analogy import analogy_path

            questions = analogy_path(None)
    qs = load_analogies(questions)
    typer.echo("| model | analogy % | semantic % | syntactic % | evaluated | skipped |")
    typer.echo("|---|---|---|---|---|---|")
    tables = []
    for name, (words, mat) in items.items():
        res = evaluate_analogies(mat, words, qs, restrict=n)
        t = res["total"]
        typer.echo(
            f"| {name} | {100 * t['accuracy']:.2f} | {100 * res['semantic']['accuracy']:.2f} | "
            f"{100 * res['syntactic']['accuracy']:.2f} | {t['evaluated']:,} | {t['skipped']:,} |"
        )
        tables.append((name, res))
    if sections:
        for name, res in tables:
            typer.echo(f"\n{name}\n{format_table(res)}")


@w2v.command("export")
def export(
    run_dir: Path = typer.Option(..., "--run", help="A training output directory."),
    model: str = typer.Option(..., "--model", help="A finished model of the run, e.g. limit or mup:256."),
    fmt: str = typer.Option("word2vec-binary", "--format",
                            help="word2vec (text), word2vec-binary (word2vec.c / compute-accuracy), or npy."),
    out: Path = typer.Option(..., "--out", help="File to write (npy also writes FILE.words.txt)."),
) -> None:
    """Write one finished model's embeddings for gensim, word2vec's compute-accuracy, or numpy."""
    from infwidth.experiments.word2vec.export import EXPORT_FORMATS, export_vectors
    from infwidth.experiments.word2vec.train import RESULT, model_dir_name

    if fmt not in EXPORT_FORMATS:
        raise UserError(f"unknown --format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    info, paths = _load_run(run_dir, allow_empty=True)
    specs = list(info["config"]["models"])
    if model not in specs:
        raise UserError(f"model {model!r} is not in {run_dir}; choose from {', '.join(specs)}")
    if model not in paths or not (run_dir / model_dir_name(model) / RESULT).is_file():
        raise UserError(f"model {model!r} in {run_dir} has not finished training; finish it with "
                        "'infwidth word2vec train --resume' first")
    words, emb = _load_vectors(paths[model])
    for path in export_vectors(out, words, emb, fmt):
        typer.echo(f"wrote {path} ({len(words):,} words x {emb.shape[1]:,} dims, {fmt})")


@w2v.command("pca")
def pca(
    run_dir: Path = typer.Option(..., "--run", help="A training output directory."),
    models: str = typer.Option("", "--models", help="Panels, e.g. ntk:256,mup:64,limit (default: NTK, a finite width, the limit)."),
    out: Path = typer.Option(None, "--out", help="PNG path (default: RUN/states_cities_pca.png)."),
    data: Path = typer.Option(None, "--data", help="Data directory for the places list (default: the shipped list)."),
) -> None:
    """The paper's Figure 1: PCA of US states and their cities, for NTK, a finite width and the limit."""
    from infwidth.experiments.word2vec.pca import plot_states_cities, separation_text
    from infwidth.experiments.word2vec.places import load_candidates, states_and_cities
    from infwidth.experiments.word2vec.report import default_panels, panel_name
    from infwidth.runs import check_out_file

    if out is not None:
        check_out_file(out, "--out", (".png",))
    info, paths = _load_run(run_dir)
    if models:
        wanted = [m.strip() for m in models.split(",") if m.strip()]
        missing = [m for m in wanted if m not in paths]
        if missing:
            raise UserError(f"model(s) {', '.join(missing)} not trained in {run_dir}; choose from {', '.join(paths)}")
    else:
        wanted = default_panels(list(paths))
    loaded = {m: _load_vectors(paths[m]) for m in wanted}
    words = next(iter(loaded.values()))[0]
    candidates = load_candidates(data)
    pairs = states_and_cities(words, candidates)
    path = out or run_dir / "states_cities_pca.png"
    res = plot_states_cities({panel_name(m): e for m, (_, e) in loaded.items()}, words, pairs, path,
                             title="US states and their cities: 2-D PCA of the embeddings")
    for name, p in res["panels"].items():
        typer.echo(f"{name}: {separation_text(p)} ({len(res['pairs'])} pairs)")
    typer.echo(f"figure: {res['path']}")


