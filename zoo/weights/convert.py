"""torchvision / timm checkpoint -> a Keras ``.weights.h5`` for the zoo model (``zoo convert-weights``).

The torch side runs in a child process (``torch_reader.py``, torch only; see there why),
this side maps the tensors by name (``torch_port``), checks the Keras model against the
source library's own forward pass, and writes the file into Keras' cache, where
``zoo.build(..., weights="imagenet")`` finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.weights.catalog import CHECKPOINTS, Checkpoint

READER = Path(__file__).with_name("torch_reader.py")
VERIFY_SIZE = 224
VERIFY_TOLERANCE = 1e-4  # max |keras - torch| over the logits, relative to max(1, max |torch|)


@dataclass(frozen=True)
class Conversion:
    ckpt: Checkpoint
    path: Path
    tensors: int
    max_abs_diff: float | None  # None when not verified


def torch_checkpoints(name: str | None = None) -> list[Checkpoint]:
    return [c for c in CHECKPOINTS if c.layout == "torch" and (name is None or c.name == name)]


def find(name: str, tag: str | None = None) -> Checkpoint:
    options = torch_checkpoints(name)
    for c in options:
        if tag in (None, c.tag):
            return c
    if options:
        raise ValueError(f"{name}: no torch checkpoint tagged {tag!r}; tags: {', '.join(c.tag for c in options)}")
    raise ValueError(f"{name}: no torchvision/timm checkpoint to convert; convertible: "
                     + ", ".join(sorted({c.name for c in torch_checkpoints()})))


def read_torch(jobs: list[tuple[Checkpoint, str | None]], *, verify: bool, torch_python: str | None = None):
    """Run the reader once for all (checkpoint, file or None = download) pairs.

    Returns, per pair, (state dict of numpy arrays in the checkpoint's order, input, output)
    or the ValueError saying why that one could not be read.
    """
    python = torch_python or sys.executable
    with tempfile.TemporaryDirectory(prefix="zoo-convert-") as tmp:
        spec = [{"lib": c.torch_lib, "arch": c.torch_arch, "out": str(Path(tmp, f"{i}.npz")),
                 "verify_size": VERIFY_SIZE if verify else 0,
                 **({"checkpoint": str(f)} if f else {"weights": c.torch_weights})} for i, (c, f) in enumerate(jobs)]
        Path(tmp, "jobs.json").write_text(json.dumps(spec))
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        result = subprocess.run([python, str(READER), str(Path(tmp, "jobs.json"))], capture_output=True, text=True,
                                env=env, check=False)  # failures come back per job on stdout
        status = {}
        for line in result.stdout.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                status[record["job"]] = record
        out = []
        for i, (ckpt, checkpoint) in enumerate(jobs):
            record = status.get(i)
            if record is None or "error" in record:
                detail = record["error"] if record else (result.stderr.strip().splitlines() or ["no output"])[-1]
                hint = "" if checkpoint else f" Without network, download {ckpt.url} by hand and pass it with --from."
                if "No module named" in detail:
                    hint = f" {python} lacks PyTorch: run scripts/setup-torch-env and use .venv-torch/bin/zoo."
                out.append(ValueError(f"reading {checkpoint or ckpt.torch_weights} with {ckpt.torch_lib} failed: "
                                      f"{detail}.{hint}"))
                continue
            with np.load(spec[i]["out"]) as data:
                state = {str(k): data[f"state/{k}"] for k in data["keys"]}
                out.append((state, data.get("input"), data.get("output")))
    return out


def convert(name: str, tag: str | None = None, *, checkpoint: str | None = None, out: str | Path | None = None,
            verify: bool = True, torch_python: str | None = None) -> Conversion:
    """Convert one checkpoint; ``checkpoint`` a state_dict file, or None to download the published one."""
    result = convert_many([(name, tag, checkpoint)], out=out, verify=verify, torch_python=torch_python)[0]
    if isinstance(result, Exception):
        raise result
    return result


def convert_many(requests, *, out: str | Path | None = None, verify: bool = True,
                 torch_python: str | None = None) -> list[Conversion | Exception]:
    """Convert (name, tag or None, file or None) requests with one torch process; a failure is returned, not raised."""
    ckpts = [find(name, tag) for name, tag, _ in requests]
    for _, _, checkpoint in requests:
        if checkpoint and not Path(checkpoint).is_file():
            raise FileNotFoundError(f"--from {checkpoint}: no such file")
    if out is not None and len(requests) != 1:
        raise ValueError("--out applies to one checkpoint")
    read = read_torch([(c, r[2]) for c, r in zip(ckpts, requests)], verify=verify, torch_python=torch_python)
    results = []
    for ckpt, (_, _, checkpoint), got in zip(ckpts, requests, read):
        try:
            if isinstance(got, Exception):
                raise got
            results.append(_write(ckpt, checkpoint, *got, out=out))
        except (ValueError, OSError) as err:
            results.append(err)
    return results


def _write(ckpt: Checkpoint, checkpoint, state, x, y, *, out) -> Conversion:
    """Map the tensors onto the zoo model, compare with torch's output, write the .weights.h5."""
    import h5py

    from zoo.registry import build
    from zoo.weights.load import CONVERT_BUILD, META_ATTR, converted_path
    from zoo.weights.torch_port import assign_state_dict, to_torch_layout

    model = to_torch_layout(build(ckpt.name, **ckpt.knobs, **CONVERT_BUILD))
    used = assign_state_dict(model, state, ckpt.torch_arch)
    diff = None
    if x is not None:
        ours = np.asarray(model(x.transpose(0, 2, 3, 1), training=False))  # CONVERT_BUILD: logits, no softmax
        diff = float(np.abs(ours - y).max())
        if diff > VERIFY_TOLERANCE * max(1.0, float(np.abs(y).max())):
            raise ValueError(f"{ckpt.id}: the Keras model differs from {ckpt.torch_lib}'s by up to {diff:.3g} "
                             f"on the logits (max |logit| {np.abs(y).max():.3g}); not written")
    path = Path(out) if out else converted_path(ckpt)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"--out {path}: Keras weights files must end in .weights.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    meta = {"format": 1, "name": ckpt.name, "knobs": dict(ckpt.knobs), "tag": ckpt.tag, "source": ckpt.source,
            "source_id": ckpt.source_id, "layout": ckpt.layout, "preprocessing": ckpt.preprocessing,
            "from": str(Path(checkpoint).name) if checkpoint else ckpt.url,
            "sha256": _sha256(checkpoint) if checkpoint else None, "max_abs_diff": diff}
    with h5py.File(path, "a") as f:
        f.attrs[META_ATTR] = json.dumps(meta)
    return Conversion(ckpt, path, used, diff)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
