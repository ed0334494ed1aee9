"""The data of a data.json: the exact member lists bit-ts selected (after its seeded validation split,
train_limit and few-shot draws), read from the same sources (ImageFolder directories and tars, CIFAR-10/100
binaries), and the transforms of recipe.json's augment specs.

Pixels: PIL decodes JPEG and PNG (bit-ts's libjpeg-turbo decoder gives PIL's pixels); resizing runs Pillow's
bilinear resampler on float32 channels ('F' mode: no 8-bit rounding between passes), the algorithm bit-ts's
resize follows, so evaluation inputs agree to float rounding. Training augmentation draws its own random
numbers (per sample from (seed, epoch, position)): the same distribution as bit-ts's, not the same stream.
"""

import io
import json
import os
import random
import tarfile

import numpy as np
from PIL import Image

from . import DATA_FORMAT

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)


def load_data_json(path, data_dir=None):
    with open(path) as f:
        d = json.load(f)
    if d.get("format") != DATA_FORMAT:
        raise ValueError(f"{path}: data format {d.get('format')!r}, expected {DATA_FORMAT!r}")
    d["_base"] = data_dir or d["data_dir"]
    return d


class Split:
    """One split of a data.json: member i -> (HWC uint8 RGB image, label)."""

    def __init__(self, d, name):
        s = d[name]
        self.kind = s["kind"]
        self.labels = s["labels"]
        rel = s.get("root_rel")
        self.root = os.path.normpath(os.path.join(d["_base"], rel)) if rel is not None else s["root"]
        self.members = s.get("members")
        self.indices = s.get("indices")
        self._tar = None
        self._cifar = None
        self.s = s

    def __len__(self):
        return len(self.labels)

    def _open_tar(self):
        if self._tar is None:
            self._tar = tarfile.open(self.root)
        return self._tar

    def image(self, i):
        if self.kind == "image-folder":
            m = self.members[i]
            if self.s["tar"]:
                data = self._open_tar().extractfile(m).read()
                img = Image.open(io.BytesIO(data))
            else:
                img = Image.open(os.path.join(self.root, m))
            return np.asarray(img.convert("RGB"))
        if self.kind == "cifar":
            if self._cifar is None:
                self._cifar = _read_cifar(self.root, self.s["files"], self.s["record"], self.s["label_offset"])
            return self._cifar[self.indices[i]]
        raise ValueError(f"data.json: unknown split kind {self.kind!r}")

    def __getstate__(self):
        st = dict(self.__dict__)
        st["_tar"] = None
        return st


def _read_cifar(root, files, record, label_offset):
    chunks = []
    for f in files:
        b = np.fromfile(os.path.join(root, f), dtype=np.uint8)
        if b.size % record:
            raise ValueError(f"{f}: {b.size} bytes is not a whole number of {record}-byte records")
        chunks.append(b.reshape(-1, record)[:, record - 3072:])
    px = np.concatenate(chunks).reshape(-1, 3, 32, 32)
    return np.ascontiguousarray(px.transpose(0, 2, 3, 1))


def resize(img, h, w):
    """HWC uint8/float -> HWC float32 of size h x w, Pillow bilinear (antialiased) per float channel."""
    if img.shape[0] == h and img.shape[1] == w:
        return img.astype(np.float32)
    out = [np.asarray(Image.fromarray(img[:, :, c].astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
           for c in range(img.shape[2])]
    return np.stack(out, axis=2)


def scale(hwc, mode):
    x = hwc.astype(np.float64)
    if mode == "pm1":
        x = x / 127.5 - 1.0
    elif mode == "unit":
        x = x / 255.0
    elif mode == "imagenet":
        x = (x / 255.0 - MEAN) / STD
    else:
        raise ValueError(f"unknown scaling {mode!r}")
    return np.ascontiguousarray(x.astype(np.float32).transpose(2, 0, 1))


def apply(spec, img, rng):
    """The transform of a bit-ts TransformSpec: HWC uint8 RGB -> CHW float32."""
    k = spec["kind"]
    if k == "bit-train":
        p, c = spec["precrop"], spec["crop"]
        r = resize(img, p, p)
        top, left = rng.randint(0, p - c), rng.randint(0, p - c)
        v = r[top:top + c, left:left + c]
        if spec.get("hflip", True) and rng.random() < 0.5:
            v = v[:, ::-1]
        return scale(v, "pm1")
    if k == "bit-eval":
        return scale(resize(img, spec["crop"], spec["crop"]), "pm1")
    if k == "plain":
        r = resize(img, spec["size"], spec["size"]) if spec.get("size") else img
        return scale(r, spec.get("scaling", "pm1"))
    if k == "center-eval":
        size, pct = spec["size"], spec.get("cropPct", 0.875)
        h, w = img.shape[:2]
        s = int(size / pct)
        rh, rw = (s, (s * w) // h) if h <= w else ((s * h) // w, s)
        r = resize(img, rh, rw)
        top, left = round((rh - size) / 2), round((rw - size) / 2)
        return scale(r[top:top + size, left:left + size], spec.get("scaling", "imagenet"))
    if k == "rrc-train":
        from torchvision import transforms as T
        import torch
        torch.manual_seed(rng.getrandbits(62))
        t = [T.RandomResizedCrop(spec["size"], scale=tuple(spec.get("scale", (0.08, 1))),
                                 ratio=tuple(spec.get("ratio", (0.75, 1.333))))]
        if spec.get("hflip", True):
            t.append(T.RandomHorizontalFlip())
        j = spec.get("jitter")
        if j:
            t.append(T.ColorJitter(j.get("brightness", 0), j.get("contrast", 0), j.get("saturation", 0)))
        out = T.Compose(t)(Image.fromarray(img))
        return scale(np.asarray(out), spec.get("scaling", "imagenet"))
    raise ValueError(f"unknown transform kind {k!r}")


def sample_rng(seed, epoch, position):
    """The per-sample generator of (seed, epoch, position in the epoch's global order)."""
    return random.Random((seed * 1_000_003 + epoch) * 1_000_003 + position)


class TorchDataset:
    """A torch-style dataset over global (epoch, position, member) triples, with a transform spec."""

    def __init__(self, split, spec, seed):
        self.split, self.spec, self.seed = split, spec, seed

    def __len__(self):
        return len(self.split)

    def __getitem__(self, key):
        epoch, position, i = key
        x = apply(self.spec, self.split.image(i), sample_rng(self.seed, epoch, position))
        return x, self.split.labels[i]


def epoch_order(n, batch, seed, epoch, shuffle=True, drop_last=True):
    """Member indices of one epoch's global batches (a permutation; with replacement when n < batch)."""
    rng = np.random.default_rng([seed, epoch])
    if n < batch:
        order = rng.integers(0, n, size=batch)
        return [order.tolist()]
    order = rng.permutation(n) if shuffle else np.arange(n)
    nb = n // batch if drop_last else -(-n // batch)
    return [order[b * batch:(b + 1) * batch].tolist() for b in range(nb)]
