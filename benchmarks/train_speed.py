"""Is the zoo slow to train? Its training step against a PyTorch twin, interleaved in one process.

Per family and shape (the suites' 32 px batch 128 and 64 px batch 64, and 224 px batch 16):

- zoo, in memory: the model built as the suites build it, compiled by ``zoo.training.compile_model``
  (SGD momentum 0.9 nesterov, coupled L2 5e-4 on >= 2-D weights, cosine schedule, BN momentum
  0.9), one ``train_on_batch`` on tensors already in memory: the same ``train_function`` that
  ``model.fit`` in ``zoo.training.train_and_evaluate`` runs every step.
- zoo, fused BN: the same, compiled with ``batchnorm="fused"`` (``zoo.layers.fused_batchnorm``:
  BatchNorm trains on TensorFlow's fused kernel instead of Keras 3's composite ops).
- zoo, pipeline: the same model and step, each batch drawn from the real
  ``ImageDataset.pipeline`` (shuffle, augment, normalise, prefetch) on a small subset of the shared
  cifar10 (tiny-imagenet-10 at 64 px) when ``$ZOO_DATA_DIR`` has it; otherwise not timed.
- PyTorch twin: torchvision / timm where they ship the network (strides edited to the zoo's
  small-input plan at 32 and 64 px: the first two downsampling layers keep stride 1), a port
  here otherwise (ResNet-20, option-A shortcuts); ``torch.optim.SGD`` with the same momentum,
  nesterov and weight decay on the same >= 2-D parameters; NCHW and channels_last, the faster
  counts. Its MACs are counted and printed beside the zoo's, so a twin that is not the same
  network shows.

Both precisions where the CPU has native bfloat16 (avx512_bf16 / amx_bf16): float32, and
Keras ``mixed_bfloat16`` against ``torch.autocast("cpu", torch.bfloat16)``. The same thread
count for TF (intra-op) and PyTorch. All candidates of a family/shape run round-robin
(``zoo.perf.compare.time_interleaved``), so a slow phase of a shared machine hits all of
them; the median step gives images/s, and zoo/PyTorch images/s > 1 means the zoo is faster.

    .venv-torch/bin/python benchmarks/train_speed.py --out results
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's OpenMP threads spin-wait by default; on a shared machine that made timings swing
# 10x (scripts/setup-torch-env). The zoo's `zoo latency` wrapper sets the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # time this checkout's zoo, whatever the interpreter has installed

# zoo family -> its PyTorch twin (library, constructor); "port" = defined in this file.
FAMILIES = {
    "resnet20": ("port", "resnet20"),
    "mobilenet": ("timm", "mobilenetv1_100"),
    "mobilenet_v2": ("torchvision", "mobilenet_v2"),
    "shufflenet_v2_x1_0": ("torchvision", "shufflenet_v2_x1_0"),
    "squeezenet1_1": ("torchvision", "squeezenet1_1"),
}
# The layers the zoo's small-input plan (zoo.common.small_input_strides) runs at stride 1,
# by their name in the twin: the first two downsampling layers.
SMALL_INPUT_LAYERS = {
    "mobilenetv1_100": ("conv_stem", "blocks.1.0.conv_dw"),
    "mobilenet_v2": ("features.0.0", "features.2.conv.1.0"),
    "shufflenet_v2_x1_0": ("conv1.0", "maxpool"),
    "squeezenet1_1": ("features.0", "features.2"),
}
FUSED = "in memory, fused BN"  # [recipe] batchnorm = "fused" (zoo.layers.fused_batchnorm)
SUITE_SHAPES = {32: 128, 64: 64}  # image side -> batch (benchmarks/cifar10.toml, tiny-imagenet-10.toml)
DEFAULT_SHAPES = {32: 128, 64: 64, 224: 16}
CIFAR_ONLY = {"resnet20"}  # a CIFAR network: not timed at 224 unless asked for
LEARNING_RATE = 0.01  # random labels: small enough that nothing diverges (a NaN would change the speed)
# (rounds, warm-up minimum, warm-up maximum): warm-up stops once 3 calls agree within 30%.
# Full: 2 rounds, cut from 5 for time: 14 family/shape pairs x 7 candidates took 37 minutes
# even so on 2 cores shared at load ~6 (a MobileNet step at 32 px batch 128: ~3.5 s, plus each
# candidate's trace and warm-up). The ratios rest on 2 interleaved steps per candidate: the
# zoo's in-memory and pipeline columns (the same step) differed by up to ~25% in that run.
SETTINGS = {"full": (2, 1, 3), "quick": (1, 1, 2)}
TARGET = 1.0


def parse_models(text: str | None) -> list[str]:
    if not text:
        return list(FAMILIES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise SystemExit(f"--models: unknown {unknown or text!r}; allowed: {', '.join(FAMILIES)}")
    return names


def parse_shapes(text: str | None) -> list[tuple[int, int]]:
    """``32,64,224`` (each side's default batch) or ``SIDExBATCH`` entries such as ``32x4``."""
    if not text:
        return list(DEFAULT_SHAPES.items())
    out = []
    for part in (p.strip() for p in text.split(",")):
        side, _, batch = part.partition("x")
        try:
            side_n = int(side)
            batch_n = int(batch) if batch else DEFAULT_SHAPES.get(side_n, 16)
        except ValueError:
            side_n = batch_n = 0
        if side_n < 16 or batch_n < 1:
            raise SystemExit(f"--shapes: {part!r} is not SIDE or SIDExBATCH with SIDE >= 16 and BATCH >= 1 "
                             f"(e.g. 32,64,224 or 32x128)")
        out.append((side_n, batch_n))
    return out


def native_bf16() -> tuple[bool, str]:
    """Whether the CPU computes bfloat16 natively (else both sides would emulate it: not their best)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    native = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    if native:
        return True, f"native bfloat16 ({', '.join(native)})"
    return False, "not available: the CPU has no avx512_bf16 / amx_bf16"


# --- PyTorch twins -------------------------------------------------------------------------------

def resnet20_port(num_classes: int):
    """He et al. 2016's CIFAR ResNet-20 as the zoo builds it: option-A shortcuts (subsample, zero-pad)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.pad = stride, cout - cin

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.pad:
                s = nn.functional.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
            return torch.relu(y + s)

    layers, cin = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def build_twin(library: str, name: str, num_classes: int, small_input: bool):
    """The twin network; with ``small_input`` its first two strided layers set to stride 1, as the zoo's."""
    import torch

    if library == "port":
        return resnet20_port(num_classes)
    if library == "timm":
        import timm

        net = timm.create_model(name, pretrained=False, num_classes=num_classes)
    else:
        import torchvision

        net = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if small_input:
        modules = dict(net.named_modules())
        for layer in SMALL_INPUT_LAYERS[name]:
            module = modules[layer]
            if isinstance(module, torch.nn.MaxPool2d):  # the zoo's stride-1 pools are 3x3 "same"
                parent, _, child = layer.rpartition(".")
                setattr(modules[parent] if parent else net, child, torch.nn.MaxPool2d(3, 1, padding=1))
            else:
                module.stride = (1, 1)
                module.padding = (module.kernel_size[0] // 2,) * 2  # torchvision's squeezenet conv1 is unpadded
    return net


def torch_macs(net, side: int) -> int:
    """Multiply-accumulates of one image (Conv2d and Linear), counted with forward hooks."""
    import torch

    total = [0]

    def count(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += output.numel() * k
        else:
            total[0] += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, side, side))
    for h in hooks:
        h.remove()
    return total[0]


def torch_step(net, batch, side, num_classes, channels_last, bf16):
    """One training step: forward (autocast bf16 when asked), cross-entropy, backward, SGD update."""
    import torch

    net.train()
    decay = [p for p in net.parameters() if p.ndim > 1]
    other = [p for p in net.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0.0}],
                          lr=LEARNING_RATE, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, side, side, generator=gen)
    y = torch.randint(0, num_classes, (batch,), generator=gen)
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss = loss_fn(out.float(), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


# --- the zoo's step ------------------------------------------------------------------------------

def zoo_model(name, side, num_classes, precision, batch, batchnorm="keras"):
    """Built and compiled exactly as a suite's run is (``zoo.training``), at ``precision``, with
    BatchNorm trained as ``batchnorm`` says (``[recipe] batchnorm``)."""
    import zoo
    from zoo.training import Recipe, build_with_precision, compile_model

    model = build_with_precision(precision, lambda: zoo.build(name, input_shape=(side, side, 3),
                                                              num_classes=num_classes))
    recipe = Recipe(batch_size=batch, learning_rate=LEARNING_RATE, precision=precision, batchnorm=batchnorm)
    compile_model(model, recipe, steps_per_epoch=1000, num_classes=num_classes)
    return model


def zoo_memory_step(model, batch, side, num_classes):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, side, side, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, num_classes, size=(batch,)).astype("int32"))
    return lambda: model.train_on_batch(x, y)


def zoo_pipeline_step(model, train, batch):
    """Each step's batch from the real pipeline's iterator (prefetching in the background, as in fit)."""
    iterator = iter(train.pipeline(batch, training=True, seed=0, drop_remainder=True).repeat())

    def step():
        x, y = next(iterator)
        return model.train_on_batch(x, y)

    return step


def pipeline_data(side, batch, data_dir):
    """A small real training subset at ``side`` px, or (None, why not)."""
    from zoo.data import Subset, load_dataset

    root = Path(data_dir) if data_dir else None
    name = "tiny-imagenet-10" if side == 64 and root and (root / "tiny-imagenet-10").is_dir() else "cifar10"
    if root is None or not (root / name).is_dir():
        return None, "not timed: $ZOO_DATA_DIR has no cifar10"
    per_class = max(20, math.ceil(4 * batch / 10))  # >= 4 batches per pass over the subset
    native = 64 if name == "tiny-imagenet-10" else 32
    train = load_dataset(name, split="train", data_dir=root, subset=Subset(per_class=per_class, seed=0),
                         image_size=None if side == native else side, storage="memory", cache=False)
    return train, f"{name} train, {train.num_examples} images" + (f" resized to {side} px" if side != native else "")


# --- one family at one shape ---------------------------------------------------------------------

def candidates(name, side, batch, precisions, data, torch_ok):
    from zoo.perf.compare import Timed

    num_classes = 1000 if side >= 128 else 10
    library, twin = FAMILIES[name]
    small = side < 128  # the zoo's auto rule (shorter side < 128 px)
    models = {}

    def model(precision, batchnorm="keras"):
        key = precision if batchnorm == "keras" else f"{precision}|{batchnorm}"
        if key not in models:
            models[key] = zoo_model(name, side, num_classes, precision, batch, batchnorm)
        return models[key]

    out = []
    for precision in precisions:
        keras_policy = "float32" if precision == "float32" else "mixed_bfloat16"
        out.append(Timed(f"zoo|{precision}|memory",
                         lambda p=keras_policy: zoo_memory_step(model(p), batch, side, num_classes),
                         {"side": "zoo", "precision": precision, "path": "in memory"}))
        out.append(Timed(f"zoo|{precision}|fused",
                         lambda p=keras_policy: zoo_memory_step(model(p, "fused"), batch, side, num_classes),
                         {"side": "zoo", "precision": precision, "path": FUSED}))
        if precision == "float32" and data is not None:
            out.append(Timed("zoo|float32|pipeline", lambda: zoo_pipeline_step(model("float32"), data, batch),
                             {"side": "zoo", "precision": precision, "path": "pipeline"}))
        if torch_ok:
            for cl in (False, True):
                fmt = "channels_last" if cl else "NCHW"
                out.append(Timed(f"torch|{precision}|{fmt}",
                                 lambda cl=cl, p=precision: torch_step(build_twin(library, twin, num_classes, small),
                                                                       batch, side, num_classes, cl, p == "bfloat16"),
                                 {"side": "pytorch", "precision": precision, "path": fmt}))
    return out, models, num_classes


def measure(name, side, batch, args, precisions, data, torch_ok, progress):
    from zoo.cost import analyze
    from zoo.perf.compare import time_interleaved

    rounds, warmup, max_warmup = SETTINGS["quick" if args.quick else "full"]
    timed, models, num_classes = candidates(name, side, batch, precisions, data, torch_ok)
    twin_macs = None
    if torch_ok:
        library, twin = FAMILIES[name]
        twin_macs = torch_macs(build_twin(library, twin, num_classes, side < 128), side)
    time_interleaved(timed, rounds=rounds, warmup=warmup, max_warmup=max_warmup, progress=progress)
    zoo_macs = analyze(models["float32"]).macs if "float32" in models else None
    progress(f"{name}: MACs zoo {zoo_macs} / twin {twin_macs}")
    rows = []
    for t in timed:
        ms = t.median_ms
        rows.append({"model": name, "image_size": side, "batch": batch, "side": t.info["side"],
                     "precision": t.info["precision"], "path": t.info["path"], "median_ms": ms, "p90_ms": t.p90_ms,
                     "steps": len(t.times_ms), "images_per_s": batch * 1000 / ms if ms else None,
                     "macs_per_image": zoo_macs if t.info["side"] == "zoo" else twin_macs, "error": t.error or ""})
    return rows


# --- the report ----------------------------------------------------------------------------------

def _best(rows, **match):
    pool = [r for r in rows if all(r[k] == v for k, v in match.items()) and r["images_per_s"]]
    return max(pool, key=lambda r: r["images_per_s"]) if pool else None


def _f(value, spec=".1f"):
    return "–" if value is None else format(value, spec)


def summarize(rows, shapes, models, precisions):
    """Tables per shape and the done-when lines; ratio = zoo images/s / PyTorch images/s."""
    lines, targets = [], []
    for side, batch in shapes:
        here = [r for r in rows if r["image_size"] == side and r["batch"] == batch]
        if not here:
            continue
        suite = SUITE_SHAPES.get(side) == batch
        lines += [f"### {side} px, batch {batch}" + (" (a suite's shape)" if suite else ""), "",
                  "| model | MMACs zoo / twin | zoo fp32 img/s | zoo fp32 pipeline img/s | zoo fp32 fused-BN img/s | "
                  "PyTorch fp32 img/s (best layout) | **zoo / PyTorch fp32** | pipeline / PyTorch fp32 | "
                  "**fused-BN / PyTorch fp32** | zoo bf16 img/s (fused-BN) | PyTorch bf16 img/s | "
                  "**zoo best / PyTorch best** |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name in models:
            mine = [r for r in here if r["model"] == name]
            if not mine:
                continue
            z32 = _best(mine, side="zoo", precision="float32", path="in memory")
            zpipe = _best(mine, side="zoo", precision="float32", path="pipeline")
            zfused = _best(mine, side="zoo", precision="float32", path=FUSED)
            z16f = _best(mine, side="zoo", precision="bfloat16", path=FUSED)
            t32 = _best(mine, side="pytorch", precision="float32")
            z16 = _best(mine, side="zoo", precision="bfloat16")
            t16 = _best(mine, side="pytorch", precision="bfloat16")
            zbest = max([r for r in (_best(mine, side="zoo", path="in memory"), _best(mine, side="zoo", path=FUSED))
                         if r], key=lambda r: r["images_per_s"], default=None)
            tbest = _best(mine, side="pytorch")
            ratio = z32["images_per_s"] / t32["images_per_s"] if z32 and t32 else None
            pipe_ratio = zpipe["images_per_s"] / t32["images_per_s"] if zpipe and t32 else None
            fused_ratio = zfused["images_per_s"] / t32["images_per_s"] if zfused and t32 else None
            best_ratio = zbest["images_per_s"] / tbest["images_per_s"] if zbest and tbest else None
            macs = [r["macs_per_image"] for r in (z32 or mine[0], t32) if r]
            lines.append("| " + " | ".join([
                name, " / ".join(_f(m / 1e6, ".1f") for m in macs if m),
                _f(z32 and z32["images_per_s"]), _f(zpipe and zpipe["images_per_s"]),
                _f(zfused and zfused["images_per_s"]),
                f"{t32['images_per_s']:.1f} ({t32['path']})" if t32 else "–", f"**{_f(ratio, '.2f')}**",
                _f(pipe_ratio, ".2f"), f"**{_f(fused_ratio, '.2f')}**",
                _f(z16 and z16["images_per_s"]) + f" ({_f(z16f and z16f['images_per_s'])})",
                f"{t16['images_per_s']:.1f} ({t16['path']})" if t16 else "–",
                f"**{_f(best_ratio, '.2f')}**" + (f" ({zbest['precision']}"
                                                   + (" fused-BN" if zbest["path"] == FUSED else "")
                                                   + f" / {tbest['precision']})" if zbest and tbest else "")]) + " |")
            if suite:
                for label, value in (("float32", ratio), ("float32 with batchnorm=fused", fused_ratio),
                                     ("best precision", best_ratio)):
                    if value is None:
                        targets.append(f"- {name} at {side} px batch {batch}, {label}: not measured")
                    else:
                        verdict = "holds" if value >= TARGET else "does NOT hold"
                        targets.append(f"- {name} at {side} px batch {batch}, {label}: {value:.2f} "
                                       f"(≥ {TARGET}) — {verdict}")
        lines.append("")
    return lines, targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="write DIR/train-speed.md and DIR/train-speed.csv")
    parser.add_argument("--quick", action="store_true", help="1 round, 1-2 warm-up steps: a smoke run")
    parser.add_argument("--models", default=None, help=f"comma-separated, of {', '.join(FAMILIES)} (default all)")
    parser.add_argument("--shapes", default=None, help="comma-separated SIDE or SIDExBATCH (default 32,64,224 "
                                                       "at batches 128, 64, 16; resnet20 only at 32 and 64)")
    parser.add_argument("--precisions", default="float32,bfloat16",
                        help="float32 and/or bfloat16 (bfloat16 only where the CPU has it natively)")
    parser.add_argument("--no-torch", action="store_true", help="time the zoo alone")
    parser.add_argument("--data-dir", default=None, help="for the pipeline column; default $ZOO_DATA_DIR")
    args = parser.parse_args(argv)
    models, shapes = parse_models(args.models), parse_shapes(args.shapes)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not precisions or any(p not in ("float32", "bfloat16") for p in precisions):
        raise SystemExit(f"--precisions: {args.precisions!r}; allowed: float32, bfloat16")
    bf16_ok, bf16_note = native_bf16()
    if not bf16_ok:
        precisions = [p for p in precisions if p != "bfloat16"] or ["float32"]

    torch_ok, torch_note = False, "not timed (--no-torch)"
    if not args.no_torch:
        try:  # PyTorch must load before TensorFlow (the other order crashes, torch 2.14 + TF 2.21)
            import timm  # noqa: F401
            import torch
            import torchvision  # noqa: F401

            torch_ok = True
        except Exception as err:
            torch_note = (f"not timed: PyTorch does not import here ({type(err).__name__}: {err}); "
                          "run with .venv-torch/bin/python (scripts/setup-torch-env)")
    import tensorflow as tf

    from zoo.experiment.provenance import available_cpus, cpu_model, load_average, versions
    from zoo.experiment.report import generated_by, write_report

    threads = available_cpus()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    if torch_ok:
        torch.set_num_threads(threads)
    load_before = load_average()
    started = time.perf_counter()
    data_dir = args.data_dir or os.environ.get("ZOO_DATA_DIR")

    def progress(msg):
        print(f"[{time.perf_counter() - started:6.0f} s] {msg}", flush=True)

    rows, data_notes = [], {}
    for side, batch in shapes:
        chosen = [m for m in models if not (m in CIFAR_ONLY and side >= 128 and args.models is None)]
        if not chosen:
            continue
        data, data_notes[side, batch] = pipeline_data(side, batch, data_dir)
        for name in chosen:
            progress(f"{name} at {side} px, batch {batch}")
            rows += measure(name, side, batch, args, precisions, data, torch_ok, progress)
            import gc

            import keras

            keras.backend.clear_session()  # the family's graphs and models: each family starts clean
            gc.collect()
    load_after = load_average()
    minutes = (time.perf_counter() - started) / 60

    table, targets = summarize(rows, shapes, models, precisions)
    for line in table + targets:
        print(line)
    if args.out:
        command = "ZOO_DATA_DIR=../shared/data .venv-torch/bin/python benchmarks/train_speed.py --out " + args.out
        for flag in ("quick",):
            if getattr(args, flag):
                command += f" --{flag}"
        for flag in ("models", "shapes", "data_dir"):
            if getattr(args, flag):
                command += f" --{flag.replace('_', '-')} {getattr(args, flag)}"
        if args.precisions != "float32,bfloat16":
            command += f" --precisions {args.precisions}"
        if args.no_torch:
            command += " --no-torch"
        rounds, warmup, max_warmup = SETTINGS["quick" if args.quick else "full"]
        md = ["# Training speed: the zoo's training step vs a PyTorch twin", "", generated_by(command), "",
              f"- Machine: {cpu_model()}, {os.cpu_count()} cores; {threads} threads for TF (intra-op) and PyTorch; "
              f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}",
              f"- Software: {versions(torch=torch_ok)}",
              f"- Load average (1/5/15 min) before: {load_before}; after: {load_after}; {minutes:.0f} minutes "
              "(other jobs shared the CPU: read ratios, not absolute images/s)",
              f"- Timing: per family and shape, all candidates interleaved round-robin "
              f"(`zoo.perf.compare.time_interleaved`): {rounds} rounds of one step each after {warmup}-{max_warmup} "
              "warm-up steps (until 3 agree within 30%); median step → images/s (p90 in the CSV)",
              "- zoo step: `zoo.build` (small-input plan below 128 px, as the suites), `zoo.training.compile_model` "
              f"(SGD momentum 0.9 nesterov, coupled L2 5e-4, cosine, BN momentum 0.9, lr {LEARNING_RATE}), "
              "`train_on_batch` = the `train_function` `fit` runs; in memory: one fixed batch as tensors; "
              "fused BN: the same with `[recipe] batchnorm = \"fused\"` (BatchNorm trained on TensorFlow's "
              "FusedBatchNormV3, `zoo.layers.fused_batchnorm`; the published suites use the default, Keras' "
              "composite ops); "
              "pipeline: each batch from `ImageDataset.pipeline(training=True)` (augment auto) — "
              + "; ".join(f"{s} px: {n}" for (s, _), n in data_notes.items()),
              f"- PyTorch twin: {torch_note if not torch_ok else 'torchvision / timm models (weights=None), small-input strides edited as the zoo, a ResNet-20 port (option A) here'}; "
              "`torch.optim.SGD(momentum 0.9, nesterov, weight_decay 5e-4 on >= 2-D parameters)`, cross-entropy; "
              "NCHW and channels_last timed, the faster counts; random data in memory",
              f"- bfloat16: {bf16_note}" + ("; Keras `mixed_bfloat16` (`zoo.training.build_with_precision`) vs "
                                             "`torch.autocast('cpu', torch.bfloat16)`" if bf16_ok else ""),
              "- Ratios are zoo images/s / PyTorch images/s: above 1 the zoo trains faster. Classes: 10 below "
              "128 px, 1000 at 224 px. MMACs per image: the zoo's (`zoo.cost`) / the twin's (forward hooks)",
              "", "## Done-when (ratio ≥ 1.0 at the suites' shapes)", "",
              *(targets or ["- no suite shape in this run"]), "", "## Results", "", *table,
              "## Every timing", "",
              "| model | px | batch | side | precision | path | median ms | p90 ms | steps | img/s | error |",
              "|---|---:|---:|---|---|---|---:|---:|---:|---:|---|"]
        md += [f"| {r['model']} | {r['image_size']} | {r['batch']} | {r['side']} | {r['precision']} | {r['path']} | "
               f"{_f(r['median_ms'])} | {_f(r['p90_ms'])} | {r['steps']} | {_f(r['images_per_s'])} | {r['error']} |"
               for r in rows]
        out = Path(args.out)
        columns = ["model", "image_size", "batch", "side", "precision", "path", "median_ms", "p90_ms", "steps",
                   "images_per_s", "macs_per_image", "error"]
        path = write_report(out / "train-speed.md", "\n".join(md) + "\n", out / "train-speed.csv", columns, rows)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
