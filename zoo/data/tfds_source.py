"""TensorFlow Datasets as a fallback source, for names with no local image folder.

Offline, ``download_and_prepare`` would retry each URL ten times with growing back-off
(minutes per file, and a blackholed host can hang each try); so before any download we
open one TCP connection to each host the dataset's files come from, with a short timeout,
and fail in seconds with a message that says what was fetched, where it would go and how
to use an image folder instead (a dataset whose URLs TFDS does not list is not probed).
``download=False`` never touches the network. Downloads are refused under pytest, so a test
can never fetch data by accident.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request

import numpy as np

# Our split names -> TFDS split names, tried in order.
TFDS_SPLITS = {"train": ("train",), "val": ("validation", "test"), "validation": ("validation", "test"),
               "test": ("test", "validation")}
PROBE_ENV = "ZOO_TFDS_PROBE_URL"
"""Probe this URL instead of the dataset's own hosts (tests point it at a closed local port)."""
PROBE_TIMEOUT_S = 3.0  # a reachable host answers a TCP connect in well under a second
FOLDER_LAYOUT = "<dir>/{name}/<split>/<class>/<image>"


def _missing(err: ModuleNotFoundError) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"TensorFlow Datasets needs the package {err.name!r}, which is not installed: "
                               f"pip install {err.name} (zoo's dependencies include it)", name=err.name)


def _tfds():
    """``tensorflow_datasets``, with a clear message when a package it needs is missing."""
    try:
        import tensorflow_datasets as tfds
    except ModuleNotFoundError as err:
        raise _missing(err) from err
    return tfds


def tfds_builders() -> list[str]:
    """Names TFDS knows (works offline: the list ships with the package)."""
    return list(_tfds().list_builders())


def builder_for(name: str, data_dir: str | None):
    """``tfds.builder``, touching no network; a missing lazy import of TFDS is named."""
    tfds = _tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.url_infos  # noqa: B018 - the first use of TFDS's lazy imports (importlib_resources)
    except ModuleNotFoundError as err:
        raise _missing(err) from err
    return builder


def tfds_split(builder, split: str) -> str:
    """The TFDS split for one of ours, e.g. "val" -> "validation" (or "test" when that is all there is)."""
    available = set(builder.info.splits.keys())
    for candidate in TFDS_SPLITS.get(split, (split,)):
        if candidate in available:
            return candidate
    raise ValueError(f"tfds:{builder.name} has no split {split!r}; available: {sorted(available)}")


def dataset_urls(builder) -> list[str]:
    """The URLs ``download_and_prepare`` fetches, from the checksums TFDS ships (may be empty)."""
    return sorted(builder.url_infos or {})


def _download_size(builder) -> str:
    infos = builder.url_infos or {}
    total = sum(int(info.size) for info in infos.values())
    return f"{total / 2**20:.0f} MiB" if total else "an unknown size"


def _probe_target(url: str) -> tuple[str, int]:
    """(host, port) a download of ``url`` connects to first: the proxy when one applies."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = parts.port or {"https": 443, "ftp": 21}.get(parts.scheme, 80)
    return parts.hostname or "", port


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection towards ``url`` opens within ``timeout`` seconds, else why not.

    In a thread with a bounded join, because name resolution ignores socket timeouts.
    """
    host, port = _probe_target(url)
    failure = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as err:
            failure.append(f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=connect, daemon=True, name=f"probe {host}:{port}")
    thread.start()
    thread.join(timeout + 0.5)
    if thread.is_alive():
        return f"no answer from {host}:{port} within {timeout:g} s"
    return failure[0] if failure else None


def _instead(name: str) -> str:
    layout = FOLDER_LAYOUT.format(name=name)
    return f"set ZOO_DATA_DIR=<dir> (or pass data_dir=) to use an image folder instead: {layout}"


def label_feature(builder):
    """The class-label feature; refuses, before any download, a dataset without (image, label) pairs."""
    keys = builder.info.supervised_keys
    feature = builder.info.features[keys[1]] if keys and len(keys) == 2 and isinstance(keys[1], str) else None
    if not getattr(feature, "names", None):
        raise ValueError(f"tfds:{builder.name} is not an image classification dataset (supervised keys "
                         f"{keys}); zoo needs (image, class label) pairs")
    return feature


def class_names(name: str, data_dir: str | None) -> list[str]:
    """The dataset's class names, known offline (from the code TFDS ships) before any download."""
    return list(label_feature(builder_for(name, data_dir)).names)


def prepare(builder, *, download: bool) -> None:
    """Make sure the dataset is in TFDS's store, downloading it only when allowed and reachable."""
    if os.path.isdir(builder.data_dir) and builder.is_prepared():  # isdir first: TFDS warns on a missing one
        return
    name, store, urls = builder.name, builder.data_dir, dataset_urls(builder)
    fetch = f"{_download_size(builder)} from {', '.join(urls) or 'its source'}"
    if not download:
        raise FileNotFoundError(f"tfds:{name} is not prepared under {store} and downloads are off "
                                f"(download=False); preparing it fetches {fetch}. Load it once with "
                                f"download=True, or {_instead(name)}")
    override = os.environ.get(PROBE_ENV)
    for target in [override] if override else urls:
        why = probe(target)
        if why is not None:
            raise FileNotFoundError(f"tfds:{name} is not prepared under {store} and cannot be downloaded "
                                    f"({fetch}): {target} is unreachable ({why}). Offline, {_instead(name)}")
    if "PYTEST_CURRENT_TEST" in os.environ:  # tests must never download
        raise FileNotFoundError(f"tfds:{name} is not prepared under {store} and downloads are off in tests")
    try:
        builder.download_and_prepare()
    except OSError as err:  # requests' errors are OSErrors; the message names the URL
        raise FileNotFoundError(f"tfds:{name}: downloading {fetch} into {builder.data_dir_root} failed "
                                f"({type(err).__name__}: {err}); {_instead(name)}") from err


def load_tfds_arrays(name: str, split: str, data_dir: str | None, *, download: bool = True):
    """Prepare a TFDS dataset (see ``prepare``); returns (uint8 images list, labels, class names, split)."""
    tfds = _tfds()
    builder = builder_for(name, data_dir)
    names = list(label_feature(builder).names)
    prepare(builder, download=download)
    real_split = tfds_split(builder, split)
    ds = builder.as_dataset(split=real_split, as_supervised=True, shuffle_files=False)
    images, labels = [], []
    for image, label in tfds.as_numpy(ds):
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        images.append(np.asarray(image[..., :3], dtype=np.uint8))
        labels.append(int(label))
    return images, np.asarray(labels, np.int32), names, real_split
