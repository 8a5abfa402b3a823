"""``zoo latency``: the zoo's models against keras.applications and torchvision/timm, one run, interleaved.

Every zoo model is timed three ways -- Keras graph mode (``tf.function(jit_compile=False)``,
the path ``zoo.experiment.latency.measure_latency`` times), the inference path
(``zoo.perf.InferenceModel``: BN folded, one trace, concrete function called directly)
and the TFLite export (``zoo.perf.TFLiteRunner``) -- and "zoo best" is the fastest. The
counterparts: keras.applications (graph mode, ``weights=None``) always; torchvision/timm
when PyTorch imports (``scripts/setup-torch-env``), eval mode, ``torch.inference_mode()``,
NCHW and channels_last (the faster counts). The deployment runtimes many users run on a
CPU time the same zoo model (same weights, same input) in the same rounds: ONNX Runtime and
OpenVINO (``zoo.perf.portable``, when the ``deploy`` extra is installed) and full-integer
int8 TFLite (``zoo.perf.quantize``); "zoo best" stays the fastest float path, compared with
each. All use the same thread count. A dense 3x3 convolution timed in the same rounds gives
the machine's practical peak GFLOP/s.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.experiment.provenance import cpu_model, load_average, versions
from zoo.experiment.report import ensure_dir, write_atomic
from zoo.perf.compare import Timed, time_interleaved

# zoo model -> its counterparts: (library, constructor). The issue's reference numbers were
# measured on these exact constructors.
COUNTERPARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "mobilenet": (("keras.applications", "MobileNet"), ("timm", "mobilenetv1_100")),
    "mobilenet_v2": (("keras.applications", "MobileNetV2"), ("torchvision", "mobilenet_v2")),
    "xception": (("keras.applications", "Xception"),),
    "squeezenet1_0": (("torchvision", "squeezenet1_0"),),
    "squeezenet1_1": (("torchvision", "squeezenet1_1"),),
    "shufflenet_v2_x1_0": (("torchvision", "shufflenet_v2_x1_0"),),
    "shufflenet_g1": (),  # no library ships ShuffleNet v1; g=1 vs g=8 is the comparison
    "shufflenet_g8": (),
}
ZOO_PATHS = ("keras graph", "folded", "tflite")
# Deployment runtimes timed on the zoo model itself ("deploy" rows); "zoo best" is never one of them.
DEPLOY = ("ONNX Runtime", "OpenVINO", "tflite int8")
# int8 calibration images: deterministic random, like the timed input. The int8 graph and its
# kernels are the same whatever ranges calibration measures, so latency does not depend on them;
# a handful keeps the conversion to seconds.
CALIBRATION_IMAGES = 8
PEAK_LAYER = (56, 128, 128, 3, 8)  # H=W, in, out, kernel, batch: a dense conv oneDNN runs near its best
DEFAULT_BATCHES = (1, 32)
# (rounds, calls per round, warm-up calls): batch 32 costs ~30x more per call.
SETTINGS = {"full": {1: (15, 3, 3), "large": (5, 1, 2)}, "quick": {1: (3, 1, 1), "large": (2, 1, 1)}}
MAX_WARMUP = {1: 30, "large": 10}  # warm-up calls stop earlier once timings settle (compare.warm_up)
# Where "FLOPs are not speed" is judged: the issue's done-when targets.
TARGET_RATIO = 1.0
SHUFFLE_GROUP_TARGET = 1.1


@dataclass
class Setup:
    models: list[str]
    batches: tuple[int, ...]
    quick: bool
    torch: bool
    image_size: int | None
    threads: int
    deploy: tuple[str, ...] = ()  # the DEPLOY runtimes to time
    deploy_missing: dict[str, str] = field(default_factory=dict)  # runtime -> why it is not timed


def select_models(pattern: str | None) -> list[str]:
    """Comma-separated globs over ``COUNTERPARTS``' zoo names; all when ``pattern`` is None."""
    if not pattern:
        return list(COUNTERPARTS)
    globs = [p.strip() for p in pattern.split(",") if p.strip()]
    chosen = [name for name in COUNTERPARTS if any(fnmatch.fnmatchcase(name, g) for g in globs)]
    if not chosen:
        raise ValueError(f"--models {pattern!r} matches none of the benchmarked models; "
                         f"allowed: globs over {list(COUNTERPARTS)}")
    return chosen


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(b) for b in text.split(","))
    except ValueError:
        batches = ()
    if not batches or any(b < 1 for b in batches):
        raise ValueError(f"--batches expects comma-separated positive integers, got {text!r}")
    return batches


def torch_available() -> tuple[bool, str]:
    """Whether the PyTorch counterparts can run in this process, and if not, why."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        return False, "PyTorch/torchvision are not installed here (scripts/setup-torch-env, then .venv-torch/bin/zoo latency)"
    if "torch" not in sys.modules and "tensorflow" in sys.modules:
        # torch 2.14 imported after TF 2.21 crashes the process (segmentation fault)
        return False, "PyTorch must be imported before TensorFlow: run .venv-torch/bin/zoo latency"
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except Exception as err:  # e.g. torchvision's operator mismatch beside another torch build
        return False, f"PyTorch/torchvision do not import: {err}"
    return True, ""


def deploy_available() -> tuple[tuple[str, ...], dict[str, str]]:
    """The ``DEPLOY`` runtimes this environment can run, and why each other one cannot."""
    from zoo.perf.portable import require

    needs = {"ONNX Runtime": ("ONNX", "ONNX Runtime"), "OpenVINO": ("OpenVINO",), "tflite int8": ()}
    ok, missing = [], {}
    for runtime in DEPLOY:
        try:
            for fmt in needs[runtime]:
                require(fmt)
            ok.append(runtime)
        except ModuleNotFoundError as err:
            missing[runtime] = f"not installed: {err}"
    return tuple(ok), missing


# --- the things timed --------------------------------------------------------------------------

def _images(batch, shape, channels_first=False):
    x = np.random.default_rng(0).uniform(size=(batch, *shape)).astype("float32")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if channels_first else x


def _keras_graph_call(model, batch):
    from zoo.experiment.latency import forward_fn  # the exact path zoo bench times

    forward, x = forward_fn(model), _images(batch, model.input_shape[1:])
    return lambda: forward(x)


def folded_call(model, batch):
    from zoo.perf.inference import InferenceModel

    served = InferenceModel(model)
    import tensorflow as tf

    x = tf.constant(_images(batch, model.input_shape[1:]))
    return lambda: served.concrete(x).numpy()


def tflite_call(flatbuffer, shape, batch, threads):
    from zoo.perf.tflite import TFLiteRunner

    runner, x = TFLiteRunner(flatbuffer, num_threads=threads), _images(batch, shape)
    return lambda: runner(x)


def onnx_call(onnx_bytes, shape, batch, threads):
    from zoo.perf.portable import OnnxRunner

    runner, x = OnnxRunner(onnx_bytes, num_threads=threads), _images(batch, shape)
    return lambda: runner(x)


def openvino_call(xml_path, shape, batch, threads):
    from zoo.perf.portable import OpenVINORunner

    runner, x = OpenVINORunner(xml_path, num_threads=threads), _images(batch, shape)
    return lambda: runner(x)


def _torch_call(library, name, size, batch, channels_last):
    import torch

    if library == "timm":
        import timm

        net = timm.create_model(name, pretrained=False)
    else:
        import torchvision

        net = getattr(torchvision.models, name)(weights=None)
    net.eval()
    x = torch.from_numpy(_images(batch, (size, size, 3), channels_first=True))
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    def call():
        with torch.inference_mode():
            return net(x)

    return call


DEPLOY_CALLS = {"ONNX Runtime": onnx_call, "OpenVINO": openvino_call, "tflite int8": tflite_call}


def _predict_on_batch_call(model, batch):
    x = _images(batch, model.input_shape[1:])
    return lambda: model.predict_on_batch(x)


def _unfolded_concrete_call(model, batch):
    import tensorflow as tf

    from zoo.perf.inference import InferenceModel

    served, x = InferenceModel(model, fold=False), tf.constant(_images(batch, model.input_shape[1:]))
    return lambda: served.concrete(x).numpy()


def _peak_model():
    import keras

    size, cin, cout, k, _ = PEAK_LAYER
    inputs = keras.Input((size, size, cin))
    return keras.Model(inputs, keras.layers.Conv2D(cout, k, padding="same")(inputs))


def _peak_call(runtime: str, threads: int):
    """The dense conv in graph mode (oneDNN) or TFLite (XNNPACK); the peak is the faster."""
    model = _peak_model()
    batch = PEAK_LAYER[4]
    if runtime == "tflite":
        from zoo.perf.tflite import export_tflite

        return tflite_call(export_tflite(model, fold=False), model.input_shape[1:], batch, threads)
    return _keras_graph_call(model, batch)


def _reraise(err: Exception):
    raise err


def peak_macs() -> int:
    size, cin, cout, k, batch = PEAK_LAYER
    return size * size * cin * cout * k * k * batch


class Models:
    """Built once per run (every batch size reuses them); every conversion happens here too.
    A conversion that fails is kept as its exception and shows in the table. ``close()``
    removes the OpenVINO IR files."""

    def __init__(self, setup: Setup, progress: Callable[[str], None]):
        import tempfile

        import keras

        import zoo
        from zoo.cost import analyze

        self.zoo, self.macs, self.tflite, self.kapps = {}, {}, {}, {}
        self.deploy: dict[tuple[str, str], Any] = {}  # (model, runtime) -> bytes, IR path or exception
        self._tmp = tempfile.TemporaryDirectory(prefix="zoo-latency-")
        for name in setup.models:
            # small_input=False: the ImageNet stem at any size, so the counterparts stay the same network
            knobs = {"input_shape": (setup.image_size, setup.image_size, 3), "small_input": False} \
                if setup.image_size else {}
            model = zoo.build(name, **knobs)
            self.zoo[name], self.macs[name] = model, analyze(model).macs
            self._convert(name, model, setup, progress)
            for library, ctor in COUNTERPARTS[name]:
                if library == "keras.applications":
                    shape = model.input_shape[1:]
                    self.kapps[ctor] = getattr(keras.applications, ctor)(weights=None, input_shape=shape)
                    self.macs[ctor] = analyze(self.kapps[ctor]).macs

    def _convert(self, name, model, setup, progress):
        from zoo.perf.quantize import export_modes

        int8 = "tflite int8" in setup.deploy
        progress(f"converting {name} to TFLite" + (" float32 and int8" if int8 else ""))
        try:  # both modes from one traced SavedModel
            calibration = np.random.default_rng(1).uniform(
                size=(CALIBRATION_IMAGES, *model.input_shape[1:])).astype("float32")
            files = export_modes(model, ("float32", "int8") if int8 else ("float32",),
                                 calibration=calibration if int8 else None)
            self.tflite[name] = files["float32"]
            if int8:
                self.deploy[name, "tflite int8"] = files["int8"]
        except Exception as err:  # reported, not fatal; float32 alone may still convert
            if int8:
                self.deploy[name, "tflite int8"] = err
            try:
                self.tflite[name] = export_modes(model, ("float32",))["float32"]
            except Exception as err32:
                self.tflite[name] = err32
        if "ONNX Runtime" in setup.deploy:
            progress(f"converting {name} to ONNX")
            try:
                from zoo.perf.portable import export_onnx

                self.deploy[name, "ONNX Runtime"] = export_onnx(model)
            except Exception as err:
                self.deploy[name, "ONNX Runtime"] = err
        if "OpenVINO" in setup.deploy:
            progress(f"converting {name} to OpenVINO IR")
            try:
                from zoo.perf.portable import export_openvino

                self.deploy[name, "OpenVINO"] = export_openvino(model, Path(self._tmp.name) / f"{name}.xml")
            except Exception as err:
                self.deploy[name, "OpenVINO"] = err

    def close(self):
        self._tmp.cleanup()


def candidates(setup: Setup, models: Models, batch: int) -> list[Timed]:
    out = [Timed(f"peak|{runtime}", lambda r=runtime: _peak_call(r, setup.threads),
                 {"model": "dense 3x3 conv (peak)", "path": runtime, "side": "peak",
                  "macs": peak_macs() // PEAK_LAYER[4], "batch": PEAK_LAYER[4]})
           for runtime in ("keras graph", "tflite")]
    for name in setup.models:
        model = models.zoo[name]
        shape = model.input_shape[1:]
        base = {"model": name, "side": "zoo", "macs": models.macs[name], "batch": batch}
        out.append(Timed(f"{name}|keras graph", lambda m=model: _keras_graph_call(m, batch),
                         {**base, "path": "keras graph"}))
        out.append(Timed(f"{name}|folded", lambda m=model: folded_call(m, batch), {**base, "path": "folded"}))
        flat = models.tflite[name]
        tfl = Timed(f"{name}|tflite", lambda f=flat, s=shape: tflite_call(f, s, batch, setup.threads),
                    {**base, "path": "tflite"})
        if isinstance(flat, Exception):
            tfl.prepare = lambda f=flat: _reraise(f)  # the conversion error shows in the table
        out.append(tfl)
        for runtime in setup.deploy:
            made, call = models.deploy.get((name, runtime)), DEPLOY_CALLS[runtime]
            prepare = (lambda e=made: _reraise(e)) if isinstance(made, Exception) else \
                (lambda f=made, c=call, s=shape: c(f, s, batch, setup.threads))
            out.append(Timed(f"{name}|{runtime}", prepare, {**base, "side": "deploy", "path": runtime}))
        for library, ctor in COUNTERPARTS[name]:
            if library == "keras.applications":
                kapp = models.kapps[ctor]
                out.append(Timed(f"{name}|{library}.{ctor}", lambda m=kapp: _keras_graph_call(m, batch),
                                 {**base, "side": library, "path": f"{ctor} (keras graph)",
                                  "macs": models.macs[ctor]}))
            elif setup.torch:
                for cl in (False, True):
                    fmt = "channels_last" if cl else "NCHW"
                    out.append(Timed(f"{name}|{library}.{ctor}|{fmt}",
                                     lambda lib=library, c=ctor, cl=cl, s=shape: _torch_call(lib, c, s[0], batch, cl),
                                     {**base, "side": "pytorch", "path": f"{library} {ctor} ({fmt})"}))
        if name == "mobilenet_v2" and batch == 1:  # (c): which batch-1 call path is fastest
            for path, make in (("call: predict_on_batch", _predict_on_batch_call),
                               ("call: concrete, unfolded", _unfolded_concrete_call)):
                out.append(Timed(f"{name}|{path}", lambda m=model, mk=make: mk(m, batch),
                                 {**base, "side": "call-path", "path": path}))
    return out


# --- tables -------------------------------------------------------------------------------------

def _rows(timed: list[Timed]) -> list[dict[str, Any]]:
    rows = []
    for t in timed:
        info = t.info
        ms = t.median_ms
        images = info["batch"]
        gflops = 2 * info["macs"] * images / (ms / 1000) / 1e9 if ms and info.get("macs") else None
        rows.append({"model": info["model"], "batch": images, "side": info["side"], "path": info["path"],
                     "median_ms": ms, "p90_ms": t.p90_ms, "calls": len(t.times_ms),
                     "macs_per_image": info.get("macs"), "gflops_per_s": gflops, "error": t.error or ""})
    return rows


def _fmt(value, spec=".1f", empty="–"):
    return empty if value is None else format(value, spec)


def _best(rows, **match):
    pool = [r for r in rows if all(r[k] == v for k, v in match.items()) and r["median_ms"] is not None]
    return min(pool, key=lambda r: r["median_ms"]) if pool else None


def summarize(rows: list[dict[str, Any]], setup: Setup) -> tuple[list[str], list[str]]:
    """The per-batch comparison tables and the done-when targets (holds / does not hold)."""
    lines, targets = [], []
    for batch in setup.batches:
        peaks = [r for r in rows if r["side"] == "peak" and r.get("run_batch") == batch and r["gflops_per_s"]]
        peak = max(peaks, key=lambda r: r["gflops_per_s"]) if peaks else None
        peak_rate = peak["gflops_per_s"] if peak else None
        lines += [f"### Batch {batch}", "",
                  f"Dense-conv peak this run: {_fmt(peak_rate)} GFLOP/s (3x3, 56x56, 128->128, batch 8, "
                  f"{peak['path'] if peak else '–'}; the faster of keras graph and TFLite). A reference, not a "
                  "ceiling: large 1x1 convs (Xception's middle flow) run more efficiently than it.", "",
                  "| model | MMACs | zoo keras graph ms | zoo folded ms | zoo tflite ms | zoo best | "
                  "keras.applications ms | zoo best / keras.app | PyTorch best ms | zoo best / PyTorch | "
                  "zoo best GFLOP/s (% of dense conv) |",
                  "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for name in setup.models:
            mine = {r["path"]: r for r in rows if r["model"] == name and r["batch"] == batch and r["side"] == "zoo"}
            best = _best(rows, model=name, batch=batch, side="zoo")
            kapp = _best(rows, model=name, batch=batch, side="keras.applications")
            torch_best = _best(rows, model=name, batch=batch, side="pytorch")
            ratio_k = best["median_ms"] / kapp["median_ms"] if best and kapp else None
            ratio_t = best["median_ms"] / torch_best["median_ms"] if best and torch_best else None
            rate = best["gflops_per_s"] if best else None
            share = f" ({100 * rate / peak_rate:.0f}%)" if rate and peak_rate else ""
            lines.append("| " + " | ".join([
                name, _fmt(best["macs_per_image"] / 1e6 if best else None, ".0f"),
                *(_fmt(mine[p]["median_ms"] if p in mine else None, ".2f") for p in ZOO_PATHS),
                best["path"] if best else "–",
                _fmt(kapp["median_ms"] if kapp else None, ".2f"), _fmt(ratio_k, ".2f"),
                (f"{torch_best['median_ms']:.2f} ({torch_best['path']})" if torch_best else "–"),
                _fmt(ratio_t, ".2f"), _fmt(rate) + share]) + " |")
            for other, ratio in (("keras.applications", ratio_k), ("PyTorch", ratio_t)):
                if ratio is not None:
                    verdict = "holds" if ratio <= TARGET_RATIO else "does NOT hold"
                    targets.append(f"- {name} / {other} at batch {batch}: {ratio:.2f} (≤ {TARGET_RATIO}) — {verdict}")
        if setup.deploy or setup.deploy_missing:
            lines += deploy_table(rows, setup, batch)
            targets += deploy_targets(rows, setup, batch)
        g1 = _best(rows, model="shufflenet_g1", batch=batch, side="zoo")
        g8 = _best(rows, model="shufflenet_g8", batch=batch, side="zoo")
        if g1 and g8:
            ratio = g8["median_ms"] / g1["median_ms"]
            verdict = "holds" if ratio <= SHUFFLE_GROUP_TARGET else "does NOT hold"
            targets.append(f"- ShuffleNet 1x g=8 / g=1 (best paths) at batch {batch}: {ratio:.2f} "
                           f"(≤ {SHUFFLE_GROUP_TARGET}) — {verdict}")
        lines.append("")
    return lines, targets


def _deploy_cell(rows, setup, name, batch, runtime):
    """(median ms or None, the cell's text): "not installed" / "failed" instead of a number."""
    if runtime not in setup.deploy:
        return None, "not timed" if runtime not in setup.deploy_missing else "not installed"
    row = next((r for r in rows if r["model"] == name and r["batch"] == batch and r["side"] == "deploy"
                and r["path"] == runtime), None)
    if row is None or row["median_ms"] is None:
        return None, "failed (see Every timing)"
    return row["median_ms"], f"{row['median_ms']:.2f}"


def deploy_table(rows, setup, batch) -> list[str]:
    """Zoo best (float) against ONNX Runtime and OpenVINO on the same model, and int8 against float32 TFLite."""
    lines = ["", "Deployment runtimes on the same zoo model (same weights, BatchNorm folded, same input, same "
             "rounds). A ratio below 1 means the zoo's best float path is faster; int8 / fp32 below 1 "
             "means int8 TFLite is faster than float32 TFLite.", "",
             "| model | zoo best ms | ONNX Runtime ms | zoo best / ORT | OpenVINO ms | zoo best / OpenVINO | "
             "tflite fp32 ms | tflite int8 ms | int8 / fp32 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in setup.models:
        best = _best(rows, model=name, batch=batch, side="zoo")
        fp32 = _best(rows, model=name, batch=batch, side="zoo", path="tflite")
        cells = [name, f"{best['median_ms']:.2f} ({best['path']})" if best else "–"]
        for runtime, reference in (("ONNX Runtime", best), ("OpenVINO", best), ("tflite int8", fp32)):
            ms, text = _deploy_cell(rows, setup, name, batch, runtime)
            if runtime == "tflite int8":
                cells.append(_fmt(fp32["median_ms"] if fp32 else None, ".2f"))
            ratio = (ms / reference["median_ms"] if runtime == "tflite int8" else reference["median_ms"] / ms) \
                if ms and reference else None
            cells += [text, _fmt(ratio, ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def deploy_targets(rows, setup, batch) -> list[str]:
    """The issue's target: the zoo's best path at least as fast as ONNX Runtime and OpenVINO."""
    out = []
    for runtime in ("ONNX Runtime", "OpenVINO"):
        if runtime in setup.deploy_missing:
            if batch == setup.batches[0]:
                out.append(f"- {runtime}: not timed — {setup.deploy_missing[runtime]}")
            continue
        for name in setup.models if runtime in setup.deploy else ():
            best = _best(rows, model=name, batch=batch, side="zoo")
            ms, text = _deploy_cell(rows, setup, name, batch, runtime)
            if best and ms:
                ratio = best["median_ms"] / ms
                verdict = "holds" if ratio <= TARGET_RATIO else "does NOT hold"
                out.append(f"- {name} / {runtime} at batch {batch}: {ratio:.2f} (≤ {TARGET_RATIO}) — {verdict}")
            else:
                out.append(f"- {name} / {runtime} at batch {batch}: {text}")
    return out


def training_throughput_section(results_csv: Path) -> list[str]:
    """Training images/s per model, read from a published benchmark table (never measured here)."""
    lines = ["## Training throughput (CIFAR-10, real input pipeline)", ""]
    if not results_csv.is_file():
        return lines + [f"Not yet measured — run `zoo bench benchmarks/cifar10.toml` (reads "
                        f"`{results_csv.as_posix()}`).", ""]
    with open(results_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    column = next((c for c in ("train_images_per_second", "images_per_second") if rows and c in rows[0]), None)
    if column is None:
        return lines + [f"`{results_csv.as_posix()}` has no training images/s column yet "
                        "(the benchmark runner does not record it); not measured here.", ""]
    lines += ["| model | config | training images/s (mean over runs) |", "|---|---|---:|"]
    groups: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        try:
            groups.setdefault((row.get("model", "?"), row.get("config", "")), []).append(float(row[column]))
        except (TypeError, ValueError):
            continue
    for (model, config), values in sorted(groups.items()):
        lines.append(f"| {model} | {config} | {np.mean(values):.0f} |")
    return lines + [""]


def deploy_header(setup: Setup) -> str:
    """What each deployment runtime ran with (or why it did not run), for the header."""
    parts = []
    for runtime in DEPLOY:
        if runtime in setup.deploy_missing:
            parts.append(f"{runtime} not timed ({setup.deploy_missing[runtime]})")
        elif runtime not in setup.deploy:
            parts.append(f"{runtime} not timed (`--no-deploy`)")
        elif runtime == "ONNX Runtime":
            import onnxruntime
            import tf2onnx

            parts.append(f"ONNX Runtime {onnxruntime.__version__} (`zoo.perf.export_onnx` via tf2onnx "
                         f"{tf2onnx.__version__}, CPUExecutionProvider, default session options, "
                         f"{setup.threads} intra-op threads)")
        elif runtime == "OpenVINO":
            import openvino

            parts.append(f"OpenVINO {openvino.__version__.split('-')[0]} (`zoo.perf.export_openvino`, CPU "
                         f"plugin, f32 precision, {setup.threads} threads, dynamic batch axis as exported)")
        else:
            parts.append(f"tflite int8 = `zoo.perf.quantize.export(model, \"int8\")` (full-integer, per-channel "
                         f"weights, float32 in/out) in `TFLiteRunner` (XNNPACK), calibrated on "
                         f"{CALIBRATION_IMAGES} deterministic random images (no data set: the int8 graph and "
                         "kernels, so the latency, do not depend on the calibration content, only accuracy would)")
    return "; ".join(parts) + ". All on the BatchNorm-folded zoo model, interleaved with the rest"


def run_benchmark(setup: Setup, out_dir: Path, command: str, results_csv: Path,
                  progress: Callable[[str], None] = lambda s: None) -> Path:
    """Time everything, write ``latency.csv`` and ``latency.md`` into ``out_dir``; returns the .md path."""
    load_before = load_average()
    if setup.torch:
        import torch

        torch.set_num_threads(setup.threads)
    models = Models(setup, progress)
    mode = "quick" if setup.quick else "full"
    rows = []
    try:
        for batch in setup.batches:
            rounds, per_round, warmup = SETTINGS[mode][1 if batch == 1 else "large"]
            progress(f"batch {batch}: {rounds} rounds x {per_round} calls")
            timed = time_interleaved(candidates(setup, models, batch), rounds=rounds, calls_per_round=per_round,
                                     warmup=warmup, max_warmup=MAX_WARMUP[1 if batch == 1 else "large"],
                                     progress=progress)
            for row in _rows(timed):
                row["run_batch"] = batch
                rows.append(row)
    finally:
        models.close()
    load_after = load_average()
    ensure_dir(out_dir)
    fields = ["model", "run_batch", "batch", "side", "path", "median_ms", "p90_ms", "calls",
              "macs_per_image", "gflops_per_s", "error"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items() if k in fields})
    write_atomic(out_dir / "latency.csv", buf.getvalue())

    summary, targets = summarize(rows, setup)
    size = f"{setup.image_size}x{setup.image_size}" if setup.image_size else "each model's default (224; Xception 299)"
    md = ["# Inference latency: the zoo vs keras.applications, PyTorch, ONNX Runtime, OpenVINO and int8 TFLite", "",
          f"Generated by `{command}` — do not edit by hand.", "",
          f"- Machine: {cpu_model()}, {os.cpu_count()} cores; {setup.threads} threads for TF, TFLite, PyTorch, ONNX Runtime and OpenVINO",
          f"- Software: {versions(torch=setup.torch)}",
          f"- Load average (1/5/15 min) before: {load_before}; after: {load_after} "
          "(other jobs shared the CPU: read ratios, not absolute times)",
          f"- Input: {size}, float32, random; batches {', '.join(map(str, setup.batches))}; "
          f"{'quick' if setup.quick else 'full'} settings: {SETTINGS[mode]} (rounds, calls/round, warm-up) "
          f"per batch 1 / larger, warm-up until 3 calls agree within 30% (max {MAX_WARMUP}); all candidates interleaved round-robin; median (p90 in the CSV)",
          "- zoo paths: keras graph = `tf.function(jit_compile=False)` as `zoo bench` times; folded = "
          "`zoo.perf.InferenceModel` (BatchNorm folded, one trace, concrete function); tflite = "
          "`zoo.perf.export_tflite` + `TFLiteRunner` (XNNPACK); zoo best = the fastest",
          "- PyTorch: " + ("eval, `torch.inference_mode()`, NCHW and channels_last timed, faster counts; "
                           "GFLOP/s use the zoo twin's MACs; OMP_WAIT_POLICY="
                           f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}" if setup.torch else
                           "not timed (not importable or `--no-torch`; `scripts/setup-torch-env` then "
                           "`.venv-torch/bin/zoo latency`)"),
          "- Deployment runtimes: " + deploy_header(setup),
          "", "## Done-when targets", "", *(targets or ["- none measurable in this run"]), "",
          "## Comparison", "", *summary]
    calls = [r for r in rows if r["side"] == "call-path" or (r["model"] == "mobilenet_v2" and r["batch"] == 1
                                                             and r["side"] == "zoo")]
    if any(r["side"] == "call-path" for r in calls):
        md += ["## Batch-1 call paths (mobilenet_v2)", "",
               "Which way of calling a Keras model is fastest at batch 1 (same weights, same machine):", "",
               "| path | median ms | p90 ms |", "|---|---:|---:|"]
        md += [f"| {r['path']} | {_fmt(r['median_ms'], '.2f')} | {_fmt(r['p90_ms'], '.2f')} |" for r in calls]
        md.append("")
    md += training_throughput_section(results_csv)
    md += ["## Every timing", "", "| model | batch | side | path | median ms | p90 ms | calls | GFLOP/s | error |",
           "|---|---:|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['batch']} | {r['side']} | {r['path']} | {_fmt(r['median_ms'], '.2f')} | "
                  f"{_fmt(r['p90_ms'], '.2f')} | {r['calls']} | {_fmt(r['gflops_per_s'])} | {r['error']} |")
    path = out_dir / "latency.md"
    write_atomic(path, "\n".join(md) + "\n")
    return path
