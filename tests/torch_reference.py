"""Reference checkpoints and outputs for tests/test_weights_torch.py (run with .venv-torch's python).

Torch only, no TensorFlow in this process. For each architecture: a randomly initialised
model (weights=None) with random BatchNorm statistics and affine terms (so BN epsilon and
every tensor matter), its state_dict as .pth, and its eval-mode logits on 0-255 images
scaled the way its checkpoint expects; plus the facts torchvision / timm state about their
published weights, to check zoo.weights' table against.

    python tests/torch_reference.py OUT_DIR lib:arch:preprocessing ...
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def build(lib, arch):
    if lib == "torchvision":
        import torchvision

        return torchvision.models.get_model(arch, weights=None)
    import timm

    return timm.create_model(arch, pretrained=False)


def randomize_bn(model, generator):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


def scale(images, preprocessing):
    x = images / 255.0
    if preprocessing == "torch":
        return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x * 2 - 1  # "tf": [-1, 1]


def facts():
    """What the libraries say about the weights zoo.weights lists."""
    import timm
    import torchvision
    from torchvision.models import get_model_weights

    out = {}
    for arch in ("squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                 "shufflenet_v2_x2_0", "mobilenet_v2"):
        for w in get_model_weights(arch):
            t = w.transforms()
            out[f"{type(w).__name__}.{w.name}"] = {
                "url": w.url, "acc@1": w.meta["_metrics"]["ImageNet-1K"]["acc@1"], "crop": t.crop_size[0],
                "resize": t.resize_size[0], "mean": list(t.mean), "std": list(t.std), "classes": len(w.meta["categories"])}
    cfg = timm.models.get_pretrained_cfg("mobilenetv1_100.ra4_e3600_r224_in1k").to_dict()
    out["mobilenetv1_100.ra4_e3600_r224_in1k"] = {k: cfg[k] for k in ("mean", "std", "license", "input_size", "crop_pct")}
    out["torchvision_version"] = torchvision.__version__
    return out


def main(out_dir, specs):
    out_dir = Path(out_dir)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 224, 224, generator=generator) * 255
    small = torch.rand(1, 3, 160, 160, generator=generator) * 255
    arrays = {"images": images.numpy().transpose(0, 2, 3, 1), "small": small.numpy().transpose(0, 2, 3, 1)}
    for spec in specs:
        lib, arch, preprocessing = spec.split(":")
        model = build(lib, arch)
        randomize_bn(model, generator)
        model.eval()
        torch.save(model.state_dict(), out_dir / f"{arch}.pth")
        with torch.no_grad():
            arrays[f"{arch}/logits"] = model(scale(images, preprocessing)).numpy()
            if hasattr(model, "reset_classifier"):
                model.reset_classifier(0)  # timm: pooled features
            else:
                for head in ("fc", "classifier"):
                    if isinstance(getattr(model, head, None), torch.nn.Module) and arch.startswith(("shufflenet", "mobilenet")):
                        setattr(model, head, torch.nn.Identity())
            arrays[f"{arch}/features160"] = model(scale(small, preprocessing)).numpy()
    np.savez(out_dir / "reference.npz", **arrays)
    (out_dir / "facts.json").write_text(json.dumps(facts()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
