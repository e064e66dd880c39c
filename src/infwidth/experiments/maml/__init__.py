"""MAML on Omniglot (Tensor Programs IV's MAML experiment): data, N-way K-shot tasks, first-order MAML for muP nets, the exact
muP limit and function-space GP/NTK baselines, runs with checkpoints, and the accuracy-vs-width plot."""

from infwidth.experiments.maml.config import MamlConfig, make_config
from infwidth.experiments.maml.data import (
    OmniglotClasses,
    load_png_classes,
    load_split,
    preprocess,
    with_rotations,
)
from infwidth.experiments.maml.fomaml import ParamMAML, adapt, evaluate, mean_ci95, meta_train
from infwidth.experiments.maml.kernels import KernelMAML, make_kernel
from infwidth.experiments.maml.models import PRESETS, build_model, preset_for
from infwidth.experiments.maml.tasks import TaskBatch, TaskSampler

__all__ = [
    "PRESETS", "KernelMAML", "MamlConfig", "OmniglotClasses", "ParamMAML", "TaskBatch", "TaskSampler", "adapt",
    "build_model", "evaluate", "load_png_classes", "load_split", "make_config", "make_kernel", "mean_ci95",
    "meta_train", "preprocess", "preset_for", "with_rotations",
]
