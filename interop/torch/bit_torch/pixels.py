"""The evaluation inputs of a split, as bit_torch builds them (decode with PIL, the recipe's eval transform).

    python3 -m bit_torch.pixels EXPORT_DIR OUT.safetensors [--split val] [--count N] [--data-dir DIR]

OUT gets `x` [N, 3, H, W] float32 and `y` [N] int32 for the first N members: the equality tests compare them
with bit-ts's own inputs for the same members (JPEG decoding equals PIL's; resizing follows Pillow's filter).
"""

import argparse
import json
import os

import numpy as np

from .data import Split, apply, load_data_json
from .safetensors_io import write_safetensors


def main(argv=None):
    p = argparse.ArgumentParser(prog="bit_torch.pixels")
    p.add_argument("export_dir")
    p.add_argument("out")
    p.add_argument("--split", default="val")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--data-dir", default=None)
    a = p.parse_args(argv)
    with open(os.path.join(a.export_dir, "recipe.json")) as f:
        recipe = json.load(f)
    data = load_data_json(os.path.join(a.export_dir, "data.json"), a.data_dir)
    split = Split(data, a.split)
    n = min(a.count, len(split))
    x = np.stack([apply(recipe["augment"]["eval"], split.image(i), None) for i in range(n)])
    y = np.array(split.labels[:n], dtype=np.int32)
    write_safetensors(a.out, {"x": x, "y": y})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
