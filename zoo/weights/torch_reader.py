"""Read PyTorch checkpoints into .npz files (run by ``zoo convert-weights`` as its own process).

PyTorch and TensorFlow must not share a process here (torch loaded after TensorFlow can
segfault: scripts/setup-torch-env) and ``import zoo`` loads TensorFlow, so this script is
run by path, imports torch and the source library only, and hands numpy arrays over.

    python torch_reader.py JOBS.json

JOBS.json is a list of {"lib": "torchvision"|"timm", "arch", "checkpoint": FILE or "weights":
NAME (download), "out": NPZ, "verify_size": N (0: no check)}; one process reads them all
(importing torch and torchvision costs seconds). With ``verify_size`` the tensors also load
into the source library's own model (strict) and its eval-mode output on a seeded N x N
batch is stored, for the caller to compare. One JSON line per job on stdout: ok or error.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import numpy as np

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")  # training checkpoints nest the weights


def load_state(job):
    import torch

    if job.get("checkpoint"):
        path = job["checkpoint"]
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        for key in WRAPPER_KEYS:
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a state_dict (a dict of tensors), got {type(state).__name__}")
        if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
            state = {k[len("module."):]: v for k, v in state.items()}
        return state
    if job["lib"] == "torchvision":
        import torchvision

        return torchvision.models.get_weight(job["weights"]).get_state_dict(progress=False)
    import timm

    return timm.create_model(job["weights"], pretrained=True).state_dict()


def source_model(job):
    if job["lib"] == "torchvision":
        import torchvision

        return torchvision.models.get_model(job["arch"], weights=None)
    import timm

    return timm.create_model(job["arch"], pretrained=False)


def read(job) -> None:
    import torch

    state = load_state(job)
    tensors = {k: v for k, v in state.items() if hasattr(v, "detach")}
    arrays = {f"state/{k}": v.detach().cpu().numpy() for k, v in tensors.items()}
    arrays["keys"] = np.array(list(tensors))
    if job.get("verify_size"):
        model = source_model(job)
        model.load_state_dict(state, strict=True)  # the checkpoint must be exactly this architecture
        model.eval()
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(2, 3, job["verify_size"], job["verify_size"], generator=generator)
        with torch.no_grad():
            arrays["input"], arrays["output"] = x.numpy(), model(x).numpy()
    np.savez(job["out"], **arrays)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        jobs = json.load(f)
    socket.setdefaulttimeout(float(os.environ.get("ZOO_DOWNLOAD_TIMEOUT", "60")))  # a dead network fails, never hangs
    failed = 0
    for i, job in enumerate(jobs):
        try:
            read(job)
            print(json.dumps({"job": i, "ok": True}), flush=True)
        except Exception as err:  # noqa: BLE001  (one line per job for the caller; the traceback helps nobody here)
            failed += 1
            print(json.dumps({"job": i, "error": " ".join(f"{type(err).__name__}: {err}".split())[:2000]}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
