"""Read a PyTorch checkpoint into an .npz (run by ``zoo convert-weights`` as its own process).

PyTorch and TensorFlow must not share a process here (torch loaded after TensorFlow can
segfault: scripts/setup-torch-env) and ``import zoo`` loads TensorFlow, so this script is
run by path, imports torch and the source library only, and hands numpy arrays over.

    python torch_reader.py --lib torchvision --arch shufflenet_v2_x1_0 --checkpoint F.pth --out S.npz
    python torch_reader.py --lib timm --arch mobilenetv1_100 \
        --weights mobilenetv1_100.ra4_e3600_r224_in1k --out S.npz --verify-size 224

``--verify-size N`` also loads the tensors into the source library's own model (strict) and
stores its eval-mode output on a seeded N x N input batch, for the caller to compare.
"""

from __future__ import annotations

import argparse
import socket
import sys

import numpy as np

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")  # training checkpoints nest the weights


def load_state(args):
    import torch

    if args.checkpoint:
        if args.checkpoint.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(args.checkpoint)
        else:
            state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        for key in WRAPPER_KEYS:
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict):
            raise ValueError(f"{args.checkpoint}: expected a state_dict (a dict of tensors), got {type(state).__name__}")
        if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
            state = {k[len("module."):]: v for k, v in state.items()}
        return state
    socket.setdefaulttimeout(args.timeout)  # a dead network fails instead of hanging
    if args.lib == "torchvision":
        import torchvision

        return torchvision.models.get_weight(args.weights).get_state_dict(progress=False)
    import timm

    return timm.create_model(args.weights, pretrained=True).state_dict()


def source_model(args):
    if args.lib == "torchvision":
        import torchvision

        return torchvision.models.get_model(args.arch, weights=None)
    import timm

    return timm.create_model(args.arch, pretrained=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", choices=("torchvision", "timm"), required=True)
    parser.add_argument("--arch", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a state_dict file: .pth / .pt / .bin (torch.load) or .safetensors")
    source.add_argument("--weights", help="download: a torchvision weights enum name or a timm pretrained name")
    parser.add_argument("--out", required=True)
    parser.add_argument("--verify-size", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per network operation")
    args = parser.parse_args(argv)
    try:
        import torch

        state = load_state(args)
        arrays = {f"state/{k}": v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}
        arrays["keys"] = np.array([k for k, v in state.items() if hasattr(v, "detach")])
        if args.verify_size:
            model = source_model(args)
            model.load_state_dict(state, strict=True)  # the checkpoint must be exactly this architecture
            model.eval()
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(2, 3, args.verify_size, args.verify_size, generator=generator)
            with torch.no_grad():
                arrays["input"], arrays["output"] = x.numpy(), model(x).numpy()
        np.savez(args.out, **arrays)
    except Exception as err:  # one line for the caller to show; the traceback helps nobody here
        print(" ".join(f"{type(err).__name__}: {err}".split())[:2000], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
