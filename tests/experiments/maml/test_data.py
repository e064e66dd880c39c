"""Omniglot loading and preprocessing: counts, an independent PIL pipeline, the PNG layout, bad input."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from infwidth.errors import UserError
from infwidth.experiments.maml import data as D


def _real_omniglot():
    try:
        path = D.omniglot_dir()
    except UserError:
        return None
    return path if (path / D.CSV_FILE).is_file() else None


OMNIGLOT = _real_omniglot()
needs_data = pytest.mark.skipif(OMNIGLOT is None, reason="Omniglot data directory not found")


def pil_pipeline(raw_bool: np.ndarray, angle: int = 0) -> np.ndarray:
    """The paper's pipeline through PIL: invert to ink = 255, rotate, Resize(28) bilinear, uint8."""
    img = Image.fromarray(np.where(raw_bool, 0, 255).astype(np.uint8))
    if angle:
        img = img.rotate(angle)
    return np.asarray(img.resize((28, 28), Image.BILINEAR))


def random_strokes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.ones((n, 105, 105), dtype=bool)
    for i in range(n):
        for _ in range(6):
            r, c = rng.integers(5, 95, size=2)
            out[i, r : r + rng.integers(3, 12), c : c + rng.integers(3, 30)] = False
    return out


def test_preprocess_matches_pil_on_synthetic_strokes():
    raw = random_strokes(20)
    ours = D.preprocess(raw).numpy().astype(int)
    ref = np.stack([pil_pipeline(r) for r in raw]).astype(int)
    assert ours.shape == (20, 28, 28)
    assert np.abs(ours - ref).max() <= 1  # PIL rounds in fixed point: at most one grey level apart
    assert (ours == ref).mean() > 0.95
    assert ours.max() > 200 and np.median(ours) == 0  # ink bright, background dark


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotation_after_resize_equals_pil_rotation_before(angle):
    raw = random_strokes(5, seed=angle)
    ours = D.with_rotations(D.OmniglotClasses(D.preprocess(raw)[:, None], [str(i) for i in range(5)]), (angle,))
    rotated = ours.images[5:, 0].numpy().astype(int)
    ref = np.stack([pil_pipeline(r, angle) for r in raw]).astype(int)
    assert np.abs(rotated - ref).max() <= 1
    assert ours.names[5].endswith(f"/rot{angle}")


def test_preprocess_bad_input_is_one_line_error():
    with pytest.raises(UserError, match="105x105") as e:
        D.preprocess(np.zeros((3, 28, 28), dtype=bool))
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="bool or uint8"):
        D.preprocess(np.zeros((3, 105, 105), dtype=np.float32))


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_png_folder_and_zip_layouts(tmp_path):
    raw = random_strokes(6, seed=3)
    zpath = tmp_path / "images_background.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for c in range(2):
            for d in range(3):
                arr = np.where(raw[3 * c + d], 255, 0).astype(np.uint8)
                name = f"images_background/Alpha/character0{c + 1}/000{c + 1}_0{d + 1}.png"
                zf.writestr(name, _png_bytes(arr))
                path = tmp_path / "folder" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_png_bytes(arr))
    from_zip = D.load_png_classes(zpath, drawers=3)
    from_dir = D.load_png_classes(tmp_path / "folder", drawers=3)
    assert from_zip.names == ["Alpha/character01", "Alpha/character02"] == from_dir.names
    assert torch.equal(from_zip.images, from_dir.images)
    assert torch.equal(from_zip.images.reshape(6, 28, 28), D.preprocess(raw))
    with pytest.raises(UserError, match="has 3 images, expected 20"):
        D.load_png_classes(zpath)


def test_png_bad_images(tmp_path):
    bad = tmp_path / "a" / "Alpha" / "character01"
    bad.mkdir(parents=True)
    (bad / "0001_01.png").write_bytes(_png_bytes(np.zeros((50, 50), dtype=np.uint8)))
    with pytest.raises(UserError, match="expected 105x105"):
        D.read_png_layout(tmp_path / "a")
    (bad / "0001_01.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="not a readable image"):
        D.read_png_layout(tmp_path / "a")
    with pytest.raises(UserError, match="neither a folder nor a zip"):
        D.read_png_layout(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no PNG images"):
        D.read_png_layout(tmp_path / "empty")


@needs_data
def test_counts_of_the_whole_dataset_and_the_vinyals_split():
    table = D.read_character_table(OMNIGLOT)
    assert len(table) == 1623
    sizes = {s: len(D._read_split_json(OMNIGLOT, s)) for s in D.SPLITS}
    assert sizes == {"train": 1028, "val": 172, "test": 423}
    for which, n in (("background", 964), ("evaluation", 659)):
        images = D._load_npz(OMNIGLOT, which)
        assert images.shape == (n, 20, 105, 105)
    val = D.load_split("val", OMNIGLOT, rotations=False)
    assert val.images.shape == (172, 20, 28, 28) and val.images.dtype == torch.uint8
    val_rot = D.with_rotations(val)
    assert val_rot.num_classes == 4 * 172  # rotations are extra classes for meta-val
    assert D.load_split("test", OMNIGLOT).num_classes == 423  # but never for meta-test


@needs_data
def test_real_images_match_pil_pipeline():
    raw = D._load_npz(OMNIGLOT, "evaluation")[:8, :5].reshape(-1, 105, 105)
    ours = D.preprocess(raw).numpy().astype(int)
    ref = np.stack([pil_pipeline(r) for r in raw]).astype(int)
    assert np.abs(ours - ref).max() <= 1 and (ours == ref).mean() > 0.95


@needs_data
def test_png_zip_matches_npz():
    zpath = OMNIGLOT / "brendenlake" / "images_background_small1.zip"
    with zipfile.ZipFile(zpath) as zf:
        names = [n for n in zf.namelist() if "/Korean/character01/" in n and n.endswith(".png")]
        sub = tmp_zip = io.BytesIO()
        with zipfile.ZipFile(tmp_zip, "w") as out:
            for n in names:
                out.writestr(n, zf.read(n))
    sub.seek(0)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "sub.zip"
        p.write_bytes(sub.getvalue())
        classes = D.load_png_classes(p)
    row = D.read_character_table(OMNIGLOT)[("Korean", "character01")]
    npz = D._load_npz(OMNIGLOT, row["set"])[int(row["npz_index"])]
    assert classes.names == ["Korean/character01"]
    assert torch.equal(classes.images[0], D.preprocess(npz))


def test_missing_split_file_is_one_line_error(tmp_path):
    (tmp_path / "MANIFEST.md").write_text("x")
    (tmp_path / "omniglot").mkdir()
    (tmp_path / "omniglot" / "omniglot_characters.csv").write_text(
        "char_id,set,alphabet,character,npz_index,vinyals_split\n1,background,A,character01,0,train\n"
    )
    with pytest.raises(UserError, match="missing split file") as e:
        D.load_split("train", tmp_path)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="unknown split"):
        D.load_split("dev", tmp_path)
