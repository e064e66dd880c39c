"""Cut the small Omniglot sample the tour uses: preprocessed 28x28 uint8 images of a few characters.

    python scripts/make_omniglot_sample.py --data DATA_DIR [--train 120 --test 60 --seed 0]

Writes ``src/infwidth/_data/omniglot/omniglot_sample.npz`` (``train``/``test`` uint8 arrays of shape
(characters, 20, 28, 28), ink = 255, and their ``*_names``) from the Vinyals train and test splits,
unrotated (rotations are added when the sample is loaded, as for the full data). Omniglot is
MIT-licensed (Copyright (c) 2015 Brenden Lake).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from infwidth.experiments.maml.data import load_split

OUT = Path(__file__).resolve().parents[1] / "src" / "infwidth" / "_data" / "omniglot" / "omniglot_sample.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data directory (default: $INFWIDTH_DATA)")
    parser.add_argument("--train", type=int, default=120, help="characters from the train split")
    parser.add_argument("--test", type=int, default=60, help="characters from the test split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for split, count in (("train", args.train), ("test", args.test)):
        classes = load_split(split, args.data, rotations=False)
        pick = np.sort(rng.choice(classes.num_classes, size=count, replace=False))
        arrays[split] = classes.images[pick].numpy()
        arrays[f"{split}_names"] = np.array([classes.names[i] for i in pick])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
