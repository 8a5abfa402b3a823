"""Image folders: list ``<split>/<class>/<image>`` files, decode them once with Pillow, cache.

Decoding happens once, up front, for two reasons: an unreadable or truncated file is
reported by its path before any training starts (never as a TensorFlow error half-way
through an epoch), and the decoded uint8 array is the in-memory cache the tf.data
pipeline reads from. This module imports no TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, features

# Extensions Pillow decodes that image datasets use; compared lower-cased, so .JPG and .Jpeg work.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
    | ({".webp"} if features.check("webp") else set())
)
CACHE_DIR_ENV = "ZOO_CACHE_DIR"
CACHE_MIN_SECONDS = 5.0
"""Write the decoded-array cache only when decoding took longer than this (CIFAR-10's
50,000 JPEGs take 9-24 s to list and decode on 2 busy cores, ~1-2 s from the cache)."""
DECODE_WORKERS = 2  # Pillow releases the GIL while decoding: threads give ~1.5x on 2 cores
_CACHE_VERSION = 1
PROGRESS_MIN_FILES = 5000  # show a decoding progress bar from this many files (~1 s of work)


@dataclass(frozen=True)
class FileList:
    """The image files of one split: paths relative to ``root``, their labels and byte sizes."""

    root: Path
    class_names: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]
    sizes: tuple[int, ...]
    mtimes: tuple[int, ...]

    def fingerprint(self) -> str:
        """Stable across machines: class order plus each relative path and byte size."""
        h = hashlib.sha256()
        h.update(("\t".join(self.class_names) + "\n").encode())
        for rel, size, label in zip(self.files, self.sizes, self.labels):
            h.update(f"{rel}\t{size}\t{label}\n".encode())
        return h.hexdigest()[:16]


def is_image_file(name: str) -> bool:
    # Hidden files include macOS AppleDouble "._x.jpg" companions, which are not images.
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_classes(split_dir: Path) -> list[str]:
    """Class folder names, sorted (the torchvision ImageFolder order); hidden folders skipped."""
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def list_class_files(split_dir: Path, class_name: str) -> list[str]:
    """Image files of one class folder (recursively), relative to ``split_dir``, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(split_dir / class_name, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, split_dir)
        out.extend(os.path.join(rel_dir, f) for f in sorted(filenames) if is_image_file(f))
    return out


def make_file_list(root: Path, class_names: list[str], files_per_class: list[list[str]]) -> FileList:
    files, labels, sizes, mtimes = [], [], [], []
    base = str(root)
    for label, names in enumerate(files_per_class):
        for rel in names:
            st = os.stat(os.path.join(base, rel))  # not pathlib: 2x faster over 50,000 files
            files.append(rel)
            labels.append(label)
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
    return FileList(root, tuple(class_names), tuple(files), tuple(labels), tuple(sizes), tuple(mtimes))


def decode_image(path: Path, image_size: int | None) -> np.ndarray:
    """One file -> uint8 (H, W, 3). Raises (OSError, ValueError...) for unreadable or truncated files."""
    with Image.open(path) as im:
        im.seek(0)  # animated GIF/WebP: the first frame
        im.load()  # the full decode: a truncated file fails here, not later
        if im.mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")  # palette+transparency must go through RGBA (Pillow warns otherwise)
        if im.mode != "RGB":
            im = im.convert("RGB")  # grayscale, palette, RGBA (alpha dropped), CMYK, 16-bit
        if image_size is not None and im.size != (image_size, image_size):
            # Pillow's BILINEAR widens its filter when shrinking, i.e. it is antialiased.
            im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _decode_or_error(args):
    path, image_size = args
    try:
        return decode_image(path, image_size), None
    except Exception as err:  # noqa: BLE001 - any decoder failure is a bad file, reported by path
        return None, f"{type(err).__name__}: {err}"


def decode_all(file_list: FileList, image_size: int | None):
    """Decode every file. Returns (images or None per file, error message or None per file)."""
    # Truncated JPEGs must fail. This is Pillow's default; some libraries switch it on globally.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    jobs = [(file_list.root / rel, image_size) for rel in file_list.files]
    if len(jobs) < 256:
        results = [_decode_or_error(j) for j in jobs]
    else:
        from tqdm.auto import tqdm

        with ThreadPoolExecutor(DECODE_WORKERS) as pool:
            results = list(tqdm(pool.map(_decode_or_error, jobs, chunksize=64), total=len(jobs), unit="img",
                                desc=f"decoding {file_list.root.parent.name}/{file_list.root.name}", leave=False,
                                disable=len(jobs) < PROGRESS_MIN_FILES))
    return [r[0] for r in results], [r[1] for r in results]


# --- the decoded-array cache -------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "zoo") / "decoded"


def cache_key(file_list: FileList, image_size: int | None) -> str:
    """The fingerprint plus what it leaves out on purpose: modification times and the size."""
    h = hashlib.sha256(f"v{_CACHE_VERSION}\t{file_list.root.resolve()}\t{image_size}\t"
                       f"{file_list.fingerprint()}\n".encode())
    h.update(np.asarray(file_list.mtimes, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


def load_cached(key: str):
    """(images, labels, bad files) from the cache, or None when absent or unreadable."""
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["images"], z["labels"], [str(s) for s in z["bad"]]
    except Exception:  # noqa: BLE001 - a broken cache file is rebuilt, never trusted
        return None


def save_cached(key: str, images: np.ndarray, labels: np.ndarray, bad: list[str]) -> None:
    """Write atomically (temp file + rename) so a crash or a parallel run never sees half a file."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=images, labels=labels, bad=np.asarray(bad, dtype=str))
        os.replace(tmp, folder / f"{key}.npz")
    except OSError:
        pass  # the cache is an optimisation: a read-only home must not stop training


def decode_cached(file_list: FileList, image_size: int | None, use_cache: bool = True):
    """(images or None per file, error per file, seconds spent decoding; 0 on a cache hit).

    On a cache hit without bad files, ``images`` is the cached (N, H, W, 3) array itself.
    """
    key = cache_key(file_list, image_size)
    if use_cache:
        hit = load_cached(key)
        if hit is not None:
            images, labels, bad = hit
            if not bad:
                return images, [None] * len(file_list.files), 0.0  # already one array: no re-stacking
            bad_set = set(bad)
            it = iter(images)
            decoded = [None if rel in bad_set else next(it) for rel in file_list.files]
            errors = ["unreadable (cached result)" if rel in bad_set else None for rel in file_list.files]
            return decoded, errors, 0.0
    start = time.perf_counter()
    decoded, errors = decode_all(file_list, image_size)
    seconds = time.perf_counter() - start
    if use_cache and seconds > CACHE_MIN_SECONDS:
        good = [d for d in decoded if d is not None]
        shapes = {d.shape for d in good}
        if len(shapes) == 1:  # mixed native sizes raise later; nothing worth caching
            bad = [rel for rel, e in zip(file_list.files, errors) if e is not None]
            labels = np.asarray([lab for lab, e in zip(file_list.labels, errors) if e is None], np.int32)
            save_cached(key, np.stack(good), labels, bad)
    return decoded, errors, seconds
