"""Omniglot for few-shot learning: the npz dataset, the original PNG folders, and 105 -> 28 preprocessing.

Images are returned as uint8 ``(classes, examples, 28, 28)`` with ink bright (255) on a dark (0)
background, the layout torchmeta's ``Resize(28)`` + ``ToTensor`` gives the paper's MAML code
(before division by 255). Rotated copies by 90/180/270 degrees become extra classes (the paper
does this for meta-train and meta-val only, never for meta-test).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from infwidth.errors import UserError

SIDE = 28
RAW_SIDE = 105
DRAWERS = 20
SPLITS = ("train", "val", "test")
NPZ_FILES = {"background": "images_background.npz", "evaluation": "images_evaluation.npz"}
CSV_FILE = "omniglot_characters.csv"


@dataclass
class OmniglotClasses:
    """Preprocessed images of a set of classes: ``images`` uint8 (C, E, 28, 28), ink = 255."""

    images: torch.Tensor
    names: list[str]  # "alphabet/characterNN" (plus "/rot90" etc. for rotated copies)

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise UserError(
                f"class images must be uint8 of shape (classes, examples, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}; preprocess them with infwidth.experiments.maml.data.preprocess"
            )
        if len(self.names) != self.images.shape[0]:
            raise UserError(f"{len(self.names)} class names for {self.images.shape[0]} classes; give one name per class")

    @property
    def num_classes(self) -> int:
        return int(self.images.shape[0])

    @property
    def examples_per_class(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: list[int] | np.ndarray) -> OmniglotClasses:
        idx = [int(i) for i in index]
        return OmniglotClasses(self.images[idx].clone(), [self.names[i] for i in idx])


def preprocess(raw: np.ndarray | torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """Invert (ink -> 255) and resize ``(..., 105, 105)`` images to ``side`` with antialiasing.

    ``raw`` is bool (True = white background, as in the npz) or uint8 grayscale (255 = white, as in
    the PNGs). The resize is bilinear with antialiasing (the filter PIL's ``resize`` uses), rounded
    to uint8 like PIL; it agrees with ``PIL.Image.resize(..., BILINEAR)`` to within 1/255.
    """
    arr = torch.as_tensor(np.asarray(raw)) if not isinstance(raw, torch.Tensor) else raw
    if arr.dim() < 2 or arr.shape[-2:] != (RAW_SIDE, RAW_SIDE):
        raise UserError(
            f"Omniglot images must be {RAW_SIDE}x{RAW_SIDE}, got shape {tuple(arr.shape)}; use the original images"
        )
    if arr.dtype == torch.bool:
        ink = (~arr).to(torch.float32)
    elif arr.dtype == torch.uint8:
        ink = 1.0 - arr.to(torch.float32) / 255.0
    else:
        raise UserError(f"Omniglot images must be bool or uint8, got {arr.dtype}; load them as 1-bit or 8-bit grayscale")
    lead = arr.shape[:-2]
    flat = ink.reshape(-1, 1, RAW_SIDE, RAW_SIDE)
    out = torch.empty(flat.shape[0], side, side, dtype=torch.uint8)
    for start in range(0, flat.shape[0], 4096):  # chunks keep memory small
        chunk = F.interpolate(flat[start : start + 4096], size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + 4096] = torch.round(chunk[:, 0] * 255).clamp(0, 255).to(torch.uint8)
    return out.reshape(*lead, side, side)


def with_rotations(classes: OmniglotClasses, angles: tuple[int, ...] = (90, 180, 270)) -> OmniglotClasses:
    """Append rotated copies (counter-clockwise, multiples of 90 degrees) as new classes."""
    parts, names = [classes.images], list(classes.names)
    for angle in angles:
        if angle % 90 != 0:
            raise UserError(f"rotation {angle} is not a multiple of 90 degrees; use 90, 180 or 270")
        parts.append(torch.rot90(classes.images, k=angle // 90, dims=(-2, -1)).contiguous())
        names += [f"{n}/rot{angle}" for n in classes.names]
    return OmniglotClasses(torch.cat(parts), names)


def _read_split_json(root: Path, split: str) -> list[tuple[str, str, str]]:
    path = root / "vinyals_split" / f"{split}.json"
    if not path.is_file():
        raise UserError(f"missing split file {path}; point `data` at the directory holding omniglot/vinyals_split")
    try:
        data = json.loads(path.read_text())
        return [(s, a, c) for s, alphabets in data.items() for a, chars in alphabets.items() for c in chars]
    except (json.JSONDecodeError, AttributeError) as exc:
        raise UserError(f"split file {path} is not a valid split JSON ({exc}); restore it from the data directory") from None


def read_character_table(root: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The character table: (alphabet, character) -> row (char_id, set, npz_index, vinyals_split)."""
    path = root / CSV_FILE
    if not path.is_file():
        raise UserError(f"missing character table {path}; point `data` at the data directory (see MANIFEST)")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"char_id", "set", "alphabet", "character", "npz_index", "vinyals_split"}
    if not rows or not need <= set(rows[0]):
        raise UserError(f"{path} lacks columns {sorted(need)}; restore the character table from the data directory")
    return {(r["alphabet"], r["character"]): r for r in rows}


def _load_npz(root: Path, which: str) -> np.ndarray:
    path = root / NPZ_FILES[which]
    if not path.is_file():
        raise UserError(f"missing {path}; point `data` at the data directory holding omniglot/{NPZ_FILES[which]}")
    with np.load(path, allow_pickle=False) as z:
        if "images" not in z:
            raise UserError(f"{path} has no 'images' array; restore it from the data directory")
        images = z["images"]
    if images.dtype != np.bool_ or images.ndim != 4 or images.shape[1:] != (DRAWERS, RAW_SIDE, RAW_SIDE):
        raise UserError(
            f"{path} holds {images.dtype} {images.shape}, expected bool (chars, 20, 105, 105); restore the original npz"
        )
    return images


def omniglot_dir(root: str | Path | None = None) -> Path:
    """The ``omniglot`` directory inside the data root (or ``root`` itself if it is that directory)."""
    from infwidth.datasets import data_root

    base = data_root(root)
    return base if (base / CSV_FILE).is_file() else base / "omniglot"


def load_split(split: str, root: str | Path | None = None, *, rotations: bool | None = None) -> OmniglotClasses:
    """Characters of one Vinyals split (train 1,028 / val 172 / test 423), preprocessed to 28x28.

    ``rotations`` defaults to the paper's choice: rotated copies as extra classes for train and val.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    odir = omniglot_dir(root)
    table = read_character_table(odir)
    entries = _read_split_json(odir, split)
    by_set: dict[str, list[int]] = {"background": [], "evaluation": []}
    names = []
    for set_name, alphabet, character in entries:
        row = table.get((alphabet, character))
        if row is None:
            raise UserError(f"split {split} lists {alphabet}/{character}, which the character table lacks; restore the data files")
        which = set_name.replace("images_", "")
        if which not in by_set or row["set"] != which:
            raise UserError(f"split {split} puts {alphabet}/{character} in {set_name!r} but the table says {row['set']!r}")
        by_set[which].append(int(row["npz_index"]))
        names.append((which, f"{alphabet}/{character}"))
    parts, ordered = [], []
    for which, idx in by_set.items():
        if not idx:
            continue
        images = _load_npz(odir, which)
        if max(idx) >= images.shape[0]:
            raise UserError(f"{NPZ_FILES[which]} has {images.shape[0]} characters but the table needs index {max(idx)}")
        parts.append(preprocess(images[idx]))
        ordered += [n for w, n in names if w == which]
    out = OmniglotClasses(torch.cat(parts), ordered)
    if rotations is None:
        rotations = split != "test"
    return with_rotations(out) if rotations else out


def _png_to_array(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{name} is not a readable image ({exc}); remove or replace it") from None
    if arr.shape != (RAW_SIDE, RAW_SIDE):
        raise UserError(f"{name} is {arr.shape[1]}x{arr.shape[0]}, expected {RAW_SIDE}x{RAW_SIDE}; use the original Omniglot PNGs")
    return arr


def read_png_layout(path: str | Path) -> dict[str, np.ndarray]:
    """Read the original layout ``[top/]alphabet/characterNN/NNNN_DD.png`` from a folder or a zip.

    Returns ``"alphabet/characterNN" -> uint8 (drawers, 105, 105)`` with drawers in file-name order.
    """
    path = Path(path)
    files: dict[str, list[tuple[str, bytes]]] = {}
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            items = [(n, zf.read(n)) for n in zf.namelist() if n.lower().endswith(".png")]
    elif path.is_dir():
        items = [(p.relative_to(path).as_posix(), p.read_bytes()) for p in sorted(path.rglob("*.png"))]
    else:
        raise UserError(f"{path} is neither a folder nor a zip of Omniglot PNGs; pass the images_background folder or zip")
    for name, data in items:
        parts = name.split("/")
        if len(parts) < 3:
            raise UserError(f"{name} is not inside alphabet/character/ folders; keep the original Omniglot layout")
        files.setdefault(f"{parts[-3]}/{parts[-2]}", []).append((parts[-1], data))
    if not files:
        raise UserError(f"no PNG images found in {path}; pass a folder or zip in the original Omniglot layout")
    out = {}
    for key in sorted(files):
        entries = sorted(files[key])
        out[key] = np.stack([_png_to_array(data, f"{key}/{fname}") for fname, data in entries])
    return out


def load_png_classes(path: str | Path, *, drawers: int = DRAWERS, rotations: bool = False) -> OmniglotClasses:
    """Classes from a PNG folder/zip, preprocessed like :func:`load_split` (each must have ``drawers`` images)."""
    raw = read_png_layout(path)
    short = {k: v.shape[0] for k, v in raw.items() if v.shape[0] < drawers}
    if short:
        key, n = next(iter(short.items()))
        raise UserError(f"character {key} has {n} images, expected {drawers}; restore the missing PNGs or pass drawers={n}")
    images = torch.stack([preprocess(v[:drawers]) for v in raw.values()])
    out = OmniglotClasses(images, list(raw))
    return with_rotations(out) if rotations else out


def to_inputs(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 images (..., 28, 28) -> flattened float inputs in [0, 1] (..., 784), as ``ToTensor`` gives."""
    return images.reshape(*images.shape[:-2], -1).to(dtype) / 255.0


SAMPLE_FILE = ("omniglot", "omniglot_sample.npz")


def load_sample(*, rotations: bool = True, path: str | Path | None = None) -> dict[str, OmniglotClasses]:
    """The small preprocessed sample shipped with the package: a few train- and test-split characters.

    Returns ``{"train": ..., "test": ...}``; train gets the rotated copies (as the full meta-train split).
    ``path``: another ``.npz`` in the same layout (arrays ``train``, ``train_names``, ``test``, ``test_names``).
    """
    from infwidth.datasets import package_data

    if path is None:
        path = package_data(*SAMPLE_FILE)
        if not path.is_file():
            raise UserError(f"the shipped Omniglot sample {path.name} is missing; reinstall infwidth")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {s: OmniglotClasses(torch.from_numpy(z[s]), [str(n) for n in z[f"{s}_names"]]) for s in ("train", "test")}
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"cannot read Omniglot sample {path} ({exc}); give an .npz with train, train_names, test, "
                        "test_names") from None
    if rotations:
        out["train"] = with_rotations(out["train"])
    return out


SAMPLE_VAL_CHARACTERS = 20


def sample_splits(path: str | Path | None = None) -> dict[str, OmniglotClasses]:
    """Train/val/test splits from the shipped sample (what the tour and a data-less ``maml train`` use):
    the sample's train characters minus the last ``SAMPLE_VAL_CHARACTERS`` (with rotations) for
    meta-training, those for meta-validation, the sample's test characters for meta-testing.
    ``path``: an ``.npz`` in the sample's layout instead of the shipped one."""
    sample = load_sample(rotations=False, path=path)
    if sample["train"].num_classes <= SAMPLE_VAL_CHARACTERS:
        raise UserError(f"the sample {path} has {sample['train'].num_classes} train characters; it needs more than "
                        f"{SAMPLE_VAL_CHARACTERS} (the last {SAMPLE_VAL_CHARACTERS} are meta-validation)")
    n_train = sample["train"].num_classes - SAMPLE_VAL_CHARACTERS
    return {
        "train": with_rotations(sample["train"].subset(range(n_train))),
        "val": with_rotations(sample["train"].subset(range(n_train, sample["train"].num_classes))),
        "test": sample["test"],
    }


def has_data(root: str | Path | None = None) -> bool:
    """True when a data directory with the Omniglot files is found (``root``, else ``$INFWIDTH_DATA``)."""
    try:
        return (omniglot_dir(root) / CSV_FILE).is_file()
    except UserError:
        return False
