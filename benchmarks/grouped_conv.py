"""Grouped 1x1 convolution timing: zoo GroupedConv2D implementations vs keras Conv2D(groups).

A 240->240 pointwise convolution on a 32x28x28x240 batch (a ShuffleNet stage-2 width) for
g in {1, 2, 3, 4, 8}, in graph mode (``tf.function``, jit_compile=False) as ``model.predict``
and ``model.fit`` without XLA run it. Every (implementation, g) pair is timed round-robin,
``--repeats`` rounds, median per pair, so machine load drifts hit all pairs alike. Ratios are
to the dense case (keras Conv2D, g=1): doing g times less work should not take longer.

Done-when: zoo ``auto`` at g=8 takes no more than at g=1 (printed as PASS/FAIL).

    python benchmarks/grouped_conv.py            # ~1 min on 2 CPU cores
    python benchmarks/grouped_conv.py --quick    # a few seconds, a smoke run
    python benchmarks/grouped_conv.py --train    # also a training step (input + kernel gradients)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the question is TF's dispatch
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.experiment.provenance import cpu_model  # noqa: E402
from zoo.layers import GroupedConv2D  # noqa: E402
from zoo.layers.grouped_conv import tf_grouped_conv_supported  # noqa: E402

GROUPS = (1, 2, 3, 4, 8)
BATCH, SIZE, CHANNELS = 32, 28, 240  # ShuffleNet stage 2 at 224 px, g=3 width
ZOO_IMPLEMENTATIONS = ("auto", "tf_conv", "split", "matmul")  # "native" is keras Conv2D's own path


def machine_summary() -> str:
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return (f"cpu: {cpu_model()} | usable cores: {threads} | TF intra/inter threads: "
            f"{tf.config.threading.get_intra_op_parallelism_threads()}/"
            f"{tf.config.threading.get_inter_op_parallelism_threads()} (0 = all)\n"
            f"tensorflow {tf.__version__} | keras {keras.__version__} | backend {keras.backend.backend()} | "
            f"grouped tf.nn.convolution without XLA: {'yes' if tf_grouped_conv_supported() else 'no'} "
            f"(oneDNN or GPU) | gpu: {gpus or 'none'}")


def make_layer(implementation: str, groups: int, kernel_size: int, reference: keras.layers.Conv2D | None):
    kwargs = dict(groups=groups, padding="same", use_bias=False)
    if implementation == "keras":
        layer = keras.layers.Conv2D(CHANNELS, kernel_size, **kwargs)
    else:
        layer = GroupedConv2D(CHANNELS, kernel_size, implementation=implementation, **kwargs)
    layer.build((None, SIZE, SIZE, CHANNELS))
    if reference is not None:  # same weights: the outputs are compared below
        layer.set_weights(reference.get_weights())
    return layer


def compiled_step(layer, train: bool):
    if not train:
        return tf.function(lambda x: layer(x), jit_compile=False)

    @tf.function(jit_compile=False)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, [x, layer.kernel])

    return step


def run(args) -> dict:
    gpu = bool(tf.config.list_physical_devices("GPU"))
    x = tf.random.normal((BATCH, SIZE, SIZE, CHANNELS), seed=0)
    runnable = {"matmul": args.kernel_size == 1, "tf_conv": tf_grouped_conv_supported()}
    impls = ["keras", *[i for i in ZOO_IMPLEMENTATIONS if runnable.get(i, True)]]
    steps, worst_diff = {}, 0.0
    for groups in GROUPS:
        reference = make_layer("keras", groups, args.kernel_size, None)
        want = reference(x).numpy()
        for impl in impls:
            layer = reference if impl == "keras" else make_layer(impl, groups, args.kernel_size, reference)
            worst_diff = max(worst_diff, float(np.max(np.abs(layer(x).numpy() - want))))
            for mode in ["infer"] + (["train"] if args.train else []):
                steps[(mode, impl, groups)] = compiled_step(layer, mode == "train")

    def call(step):
        out = step(x)
        if gpu:
            tf.test.experimental.sync_devices()
        else:
            tf.nest.map_structure(lambda t: t.numpy(), out)

    for step in steps.values():  # trace, compile and warm up every pair before timing
        for _ in range(2):
            call(step)
    times = {key: [] for key in steps}
    for _ in range(args.repeats):  # round-robin: each round visits every pair once
        for key, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.inner):
                call(step)
            times[key].append((time.perf_counter() - start) / args.inner)
    medians = {key: 1000 * statistics.median(ts) for key, ts in times.items()}
    return {"impls": impls, "medians": medians, "worst_diff": worst_diff}


def report(args, result) -> bool:
    impls, medians = result["impls"], result["medians"]
    ok = True
    modes = ["infer"] + (["train"] if args.train else [])
    print(f"max |zoo - keras| output difference over all pairs: {result['worst_diff']:.2e}")
    for mode in modes:
        dense = medians[(mode, "keras", 1)]
        what = "forward" if mode == "infer" else "training step (grad wrt input and kernel)"
        print(f"\n{args.kernel_size}x{args.kernel_size} conv {CHANNELS}->{CHANNELS} on {BATCH}x{SIZE}x{SIZE}x"
              f"{CHANNELS}, {what}; median of {args.repeats} rounds x {args.inner} calls")
        print("ms (ratio to keras Conv2D g=1 = dense, %.2f ms)" % dense)
        print("g  " + "".join(f"{impl:>18}" for impl in impls))
        for groups in GROUPS:
            cells = [f"{medians[(mode, impl, groups)]:8.2f} ({medians[(mode, impl, groups)] / dense:4.2f}x)"
                     for impl in impls]
            print(f"{groups:<3}" + "".join(f"{c:>18}" for c in cells))
        auto_1, auto_8 = medians[(mode, "auto", 1)], medians[(mode, "auto", 8)]
        passed = auto_8 <= auto_1
        ok = ok and (passed or mode != "infer")
        print(f"done-when ({mode}): zoo auto g=8 {auto_8:.2f} ms <= g=1 {auto_1:.2f} ms: "
              f"{'PASS' if passed else 'FAIL'} (ratio {auto_8 / auto_1:.2f})")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="round-robin rounds (default 15, quick 3)")
    parser.add_argument("--inner", type=int, default=3, help="calls per pair per round (default 3)")
    parser.add_argument("--quick", action="store_true", help="3 rounds x 1 call: a smoke run")
    parser.add_argument("--train", action="store_true", help="also time a training step")
    parser.add_argument("--kernel-size", type=int, default=1, choices=(1, 3), help="1 (default) or 3")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 15
    if args.quick:
        args.inner = 1
    if args.repeats < 1 or args.inner < 1:
        parser.error(f"--repeats and --inner must be >= 1, got {args.repeats} and {args.inner}")
    print(machine_summary())
    start = time.perf_counter()
    ok = report(args, run(args))
    print(f"\nwall time {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
