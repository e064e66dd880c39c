"""End-to-end runs: build the learner a config asks for, meta-train with checkpoints, meta-test, report.

A run directory holds ``run.json`` (config, versions, results), ``checkpoint.pt`` (resumable after
every epoch) and ``test_accuracies.npy`` (per-task meta-test accuracies, for pooling over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.errors import UserError, check_int
from infwidth.experiments.maml.config import MamlConfig
from infwidth.experiments.maml.data import OmniglotClasses, load_split
from infwidth.experiments.maml.fomaml import (
    MetaLearner,
    ParamMAML,
    TrainState,
    evaluate,
    load_train_state,
    mean_ci95,
    meta_train,
)
from infwidth.experiments.maml.kernels import KernelMAML, make_kernel
from infwidth.experiments.maml.models import build_model
from infwidth.experiments.maml.tasks import TaskSampler

SPLIT_STREAM = {"train": 1, "val": 2, "test": 3}
CHECKPOINT = "checkpoint.pt"
TEST_FILE = "test_accuracies.npy"


def sampler(cfg: MamlConfig, classes: OmniglotClasses, split: str) -> TaskSampler:
    """The task sampler of ``split``; each split has its own random stream derived from ``cfg.seed``."""
    dtype = getattr(torch, cfg.dtype)
    return TaskSampler(classes, cfg.ways, cfg.shots, cfg.queries, seed=10 * cfg.seed + SPLIT_STREAM[split], dtype=dtype)


def build_learner(cfg: MamlConfig, pool: torch.Tensor | None, device: torch.device | str = "cpu") -> MetaLearner:
    """A :class:`ParamMAML` (muP width or limit) or :class:`KernelMAML` (GP/NTK baseline) for ``cfg``."""
    dtype = getattr(torch, cfg.dtype)
    if cfg.model == "mup":
        model = build_model(cfg.width, sigma_u=cfg.sigma_u, sigma_v=cfg.sigma_v, alpha=cfg.alpha, ways=cfg.ways,
                            seed=cfg.seed, dtype=dtype, device=device, simulate=cfg.simulate)
        return ParamMAML(model, step_size=cfg.step_size, steps=cfg.inner_steps, meta_lr=cfg.meta_lr, clip=cfg.clip)
    kernel = make_kernel(cfg.model, sigma_u=cfg.sigma_u, sigma_v=cfg.sigma_v, sigma_b=cfg.sigma_b, dtype=dtype)
    if pool is None:
        pool = torch.zeros(0, 28 * 28)
    return KernelMAML(kernel, pool, cfg.ways, step_size=cfg.step_size, steps=cfg.inner_steps, meta_lr=cfg.meta_lr,
                      clip=cfg.clip, dtype=dtype, device=device)


def _needs_training(cfg: MamlConfig) -> bool:
    return cfg.model == "mup" or cfg.meta_lr > 0


def read_config(run: Path) -> MamlConfig:
    """The config stored in a maml run's ``run.json`` (one-line error if it is not one)."""
    from infwidth.runs import read_run_record

    record = Path(run) / "run.json"
    fix = "pass the `out` directory of a maml run"
    try:
        config = read_run_record(run, fix)["config"]
    except UserError as exc:
        raise UserError(f"{record} is not the run.json of an 'infwidth maml train' run ({exc})") from None
    try:
        return MamlConfig(**config)
    except (ValueError, KeyError, TypeError) as exc:  # another experiment's run, a bad config
        raise UserError(f"{record} is not the run.json of an 'infwidth maml train' run ({exc}); {fix}") from None


def train(
    cfg: MamlConfig,
    out: Path,
    *,
    data: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    show_progress: bool = True,
    splits: dict[str, OmniglotClasses] | None = None,
) -> dict[str, Any]:
    """Meta-train (resumable), keep the best meta-val state, evaluate it on meta-test; returns the results."""
    from tqdm import tqdm

    from infwidth.device import resolve_device
    from infwidth.runs import check_out_dir, prepare_out_dir, seed_everything, write_run_record

    check_out_dir(out)
    dev = resolve_device(device)
    splits = dict(splits or {})  # loaded splits are added to a copy, never to the caller's dict
    train_needed = _needs_training(cfg)
    for split in ("train", "val", "test") if train_needed else ("test",):
        if split not in splits:
            splits[split] = load_split(split, data)
    # samplers check the task shape against the data, and the device is resolved: fail before
    # anything is written to ``out``
    train_s = sampler(cfg, splits["train"], "train") if train_needed else None
    val_s = sampler(cfg, splits["val"], "val") if train_needed else None
    sampler(cfg, splits["test"], "test")
    out, resuming = prepare_out_dir(out, cfg.to_dict(), resume=resume, overwrite=overwrite)
    seed_everything(cfg.seed)
    learner = build_learner(cfg, None if train_s is None else train_s.pool, dev)
    state = TrainState()
    ckpt = out / CHECKPOINT
    if resuming and ckpt.exists():
        state = load_train_state(ckpt)
    if train_needed:
        total = cfg.epochs * cfg.batches
        bar = tqdm(total=total, initial=state.epoch * cfg.batches, desc=f"meta-train {cfg.label}",
                   disable=not show_progress, leave=False)

        def progress(kind: str, row: dict[str, float]) -> None:
            if kind == "batch":
                bar.update(1)
                bar.set_postfix(acc=f"{row['acc']:.3f}")
            else:
                bar.write(f"epoch {int(row['epoch'])}: train acc {row['train_acc']:.4f}  val acc {row['val_acc']:.4f}")

        state = meta_train(learner, train_s, val_s, epochs=cfg.epochs, batches_per_epoch=cfg.batches,
                           meta_batch=cfg.meta_batch, val_batches=cfg.val_batches, val_steps=cfg.inner_steps,
                           checkpoint=ckpt, state=state, progress=progress)
        bar.close()
        learner.load_state_dict(state.best)
    results = test(cfg, learner, splits["test"], steps=cfg.test_steps, batches=cfg.test_batches,
                   show_progress=show_progress)
    np.save(out / TEST_FILE, results.pop("accuracies"))
    results.update(best_epoch=state.best_epoch, best_val_acc=state.best_val if train_needed else None,
                   history=state.history)
    write_run_record(out, cfg.to_dict(), results=results)
    return results


def test(
    cfg: MamlConfig,
    learner: MetaLearner,
    classes: OmniglotClasses,
    *,
    steps: int,
    batches: int,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Meta-test accuracy (mean, 95% CI over tasks) after ``steps`` inner steps, with per-task accuracies."""
    from tqdm import tqdm

    test_s = sampler(cfg, classes, "test")
    with tqdm(total=batches, desc="meta-test", disable=not show_progress, leave=False) as bar:
        res = evaluate(learner, test_s, batches=batches, meta_batch=cfg.meta_batch, steps=steps, progress=bar.update)
    mean, ci = mean_ci95(res.accuracies)
    return {"test_acc": mean, "test_ci95": ci, "test_loss": float(res.losses.mean()), "test_tasks": int(res.accuracies.size),
            "test_steps": steps, "accuracies": res.accuracies}


def _split(split: str, data: str | Path | None) -> OmniglotClasses:
    """``split`` from ``data`` (else ``$INFWIDTH_DATA``); the shipped sample's when neither has Omniglot."""
    from infwidth.experiments.maml.data import has_data, sample_splits

    if data is None and not has_data():
        return sample_splits()[split]
    return load_split(split, data)


def reevaluate(
    out: Path, *, steps: int | None = None, batches: int | None = None, data: str | Path | None = None,
    device: str = "auto", show_progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a finished run's best state again (e.g. with more test-time inner steps)."""
    from infwidth.device import resolve_device
    from infwidth.runs import atomic_write_json

    if steps is not None:
        check_int(steps, "`steps`", minimum=0)
    if batches is not None:
        check_int(batches, "`batches`")
    if not (out / "run.json").is_file():
        raise UserError(f"{out} holds no run (no run.json); pass the `out` directory of 'infwidth maml train'")
    cfg = read_config(out)
    pool = None
    if _needs_training(cfg):
        ckpt = out / CHECKPOINT
        if not ckpt.is_file():
            raise UserError(f"{out} has no {CHECKPOINT}; finish or resume the training first")
        state = load_train_state(ckpt, f"train {out} again with `overwrite=True` (same options)")
        if state.best is None:
            raise UserError(f"{out} has no finished epoch yet; resume the training first")
        if cfg.model != "mup":
            pool = sampler(cfg, _split("train", data), "train").pool
    learner = build_learner(cfg, pool, resolve_device(device))
    if _needs_training(cfg):
        learner.load_state_dict(state.best)
    steps = cfg.test_steps if steps is None else steps
    batches = cfg.test_batches if batches is None else batches
    results = test(cfg, learner, _split("test", data), steps=steps, batches=batches, show_progress=show_progress)
    np.save(out / f"test_accuracies_steps{steps}.npy", results.pop("accuracies"))
    atomic_write_json(out / f"eval_steps{steps}_batches{batches}.json", {"config": cfg.to_dict(), "results": results})
    return results


def summarize(runs: Sequence[Path], steps: int | None = None) -> list[dict[str, Any]]:
    """Pool runs by model label (e.g. several seeds): mean and 95% CI over all their meta-test tasks.

    ``steps`` picks a stored re-evaluation with that many inner steps (``reevaluate``) instead of the
    run's own meta-test.
    """
    from infwidth.runs import load_npy

    groups: dict[str, dict[str, Any]] = {}
    for run in runs:
        record = Path(run) / "run.json"
        accs = Path(run) / (TEST_FILE if steps is None else f"test_accuracies_steps{steps}.npy")
        if not record.is_file() or not accs.is_file():
            raise UserError(f"{run} is not a finished maml run (run.json / {accs.name} missing); finish it "
                            "first (or re-evaluate it with `steps`)")
        cfg = read_config(run)
        g = groups.setdefault(cfg.label, {"label": cfg.label, "model": cfg.model, "width": cfg.width, "accs": [],
                                          "seeds": []})
        g["accs"].append(load_npy(accs, f"train {run} again with `overwrite=True`"))
        g["seeds"].append(cfg.seed)
    rows = []
    for g in groups.values():
        mean, ci = mean_ci95(np.concatenate(g.pop("accs")))
        rows.append({**g, "acc": mean, "ci95": ci})
    return rows


def plot_summary(rows: list[dict[str, Any]], path: Path, reference: dict[str, float] | None = None) -> Path:
    """Accuracy against width (log axis) with the limit and the kernel baselines as horizontal lines."""
    from infwidth.plotting import plt, save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    finite = sorted((r for r in rows if r["model"] == "mup" and r["width"] is not None), key=lambda r: r["width"])
    if finite:
        ax.errorbar([r["width"] for r in finite], [100 * r["acc"] for r in finite],
                    yerr=[100 * r["ci95"] for r in finite], marker="o", capsize=3, label="finite muP width")
    lines = [r for r in rows if not (r["model"] == "mup" and r["width"] is not None)]
    for i, r in enumerate(lines):
        y, color = 100 * r["acc"], f"C{i + 1}"
        ax.axhline(y, linestyle=["-", "--", ":", "-."][i % 4], color=color, label=f"{r['label']} ({y:.1f}%)")
        ax.axhspan(y - 100 * r["ci95"], y + 100 * r["ci95"], color=color, alpha=0.12)
    if reference:
        ax.scatter(list(reference), list(reference.values()), marker="x", color="grey",
                   label="paper, finite widths (10,000 meta-batches)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width n")
    ax.set_ylabel("meta-test accuracy (%)")
    ax.set_title("Omniglot 1-shot 5-way, first-order MAML")
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)
