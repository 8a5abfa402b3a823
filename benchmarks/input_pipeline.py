"""Is the input pipeline free? Training step time with zoo.data's pipeline vs tensors in memory.

Trains one model (``resnet20`` by default) on a CIFAR-10 subset through
``ImageDataset.pipeline`` (shuffle, pad-and-crop + flip, normalise, batch, prefetch) and
through batches that were produced beforehand and sit in memory as tensors, in
interleaved epochs of the same number of steps. Prints, for each, the median and fastest
wall time per step (the fastest is the least disturbed by other processes on a shared
machine) and the CPU time per step of all threads (the pipeline's extra work, steady even
when other processes compete for the cores), then their ratios. The pipeline is "free"
when the ratio is within 5% of 1.

Optionally (``--determinism``) also times steps with TensorFlow op determinism on vs off, or
(``--streaming``) the streaming pipeline (``zoo.data.stream``: each batch decoded from its files)
against the in-memory one on the same split, e.g. all 50,000 CIFAR-10 training images
(``--per-class 5000``; target: within 10%).

    ZOO_DATA_DIR=../shared/data .venv/bin/python benchmarks/input_pipeline.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default=None, help="default: $ZOO_DATA_DIR")
    parser.add_argument("--per-class", type=int, default=500, help="training images per class")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=15,
                        help="timed epochs per variant, interleaved (a shared host changes speed between epochs: "
                             "more repeats give both variants its fast state)")
    parser.add_argument("--determinism", action="store_true", help="also time op determinism on vs off")
    parser.add_argument("--streaming", action="store_true",
                        help="streaming pipeline (files decoded per batch) vs the in-memory one; target within 10%%")
    parser.add_argument("--out", default=None, help="also write the report to DIR/input-pipeline.md")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    import zoo
    from zoo.data import Subset, load_dataset
    from zoo.training import Recipe, compile_model

    start = time.perf_counter()
    train = load_dataset(args.dataset, split="train", data_dir=args.data_dir, storage="memory",
                         subset=Subset(per_class=args.per_class, seed=0))
    print(f"loaded {train} in {time.perf_counter() - start:.1f} s")
    keras.utils.set_random_seed(0)
    model = zoo.build(args.model, input_shape=train.image_shape, num_classes=train.num_classes)
    steps = args.steps
    if train.num_examples < steps * args.batch_size:
        raise SystemExit(f"need at least {steps * args.batch_size} images for {steps} steps; raise --per-class")
    compile_model(model, Recipe(batch_size=args.batch_size), steps_per_epoch=steps,
                  num_classes=train.num_classes)

    pipeline = train.pipeline(args.batch_size, training=True, seed=0, drop_remainder=True).repeat()
    # The same kind of batches, made once and kept as tensors: no shuffling, decoding or augmenting left.
    x_mem, y_mem = zip(*pipeline.take(steps).as_numpy_iterator())
    in_memory = tf.data.Dataset.from_tensor_slices((np.stack(x_mem), np.stack(y_mem))).repeat()

    # The pipeline's own cost, without training: an upper bound on what it can add to a step.
    iterator = iter(train.pipeline(args.batch_size, training=True, seed=1, drop_remainder=True).repeat())
    next(iterator)
    t0 = time.perf_counter()
    for _ in range(50):
        next(iterator)
    pipeline_alone_ms = 1000 * (time.perf_counter() - t0) / 50

    variants = {"pipeline": pipeline, "in_memory": in_memory}
    if args.determinism:
        variants = {"determinism_off": in_memory, "determinism_on": in_memory}
    tolerance = 0.05
    if args.streaming:
        streamed = load_dataset(args.dataset, split="train", data_dir=args.data_dir, storage="stream",
                                subset=Subset(per_class=args.per_class, seed=0))
        variants = {"streaming": streamed.pipeline(args.batch_size, training=True, seed=0, drop_remainder=True).repeat(),
                    "in_memory_pipeline": pipeline}
        tolerance = 0.10

    def epoch_seconds(name, data):
        if args.determinism:
            (tf_config.enable_op_determinism if name == "determinism_on" else tf_config.disable_op_determinism)()
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return time.perf_counter() - t0, time.process_time() - c0

    for name, data in variants.items():  # warm-up: trace the train function, fill the prefetch buffer
        epoch_seconds(name, data)
    per_step_ms = {name: [] for name in variants}
    cpu_ms = {name: [] for name in variants}  # CPU time of all threads: steadier than wall time on a busy machine
    for _ in range(args.repeats):
        for name, data in variants.items():
            wall, cpu = epoch_seconds(name, data)
            per_step_ms[name].append(1000 * wall / steps)
            cpu_ms[name].append(1000 * cpu / steps)

    from zoo.experiment.provenance import machine_label
    from zoo.experiment.provenance import load_average

    report = []

    def emit(line):
        print(line)
        report.append(line)

    medians = {name: statistics.median(ms) for name, ms in per_step_ms.items()}
    fastest = {name: min(ms) for name, ms in per_step_ms.items()}
    emit(f"machine: {machine_label()}; load average after: {load_average()} "
         "(other processes slow both variants alike; the CPU-time ratio is the steadiest)")
    emit(f"model={args.model} batch={args.batch_size} steps/epoch={steps} repeats={args.repeats} "
          f"backend={keras.backend.backend()} tf={tf.__version__} cpus={os.cpu_count()} "
          f"gpus={len(tf.config.list_physical_devices('GPU'))}")
    for name, ms in per_step_ms.items():
        emit(f"  {name:16s} median {medians[name]:7.1f}  min {fastest[name]:7.1f} ms/step   "
              f"all: {', '.join(f'{m:.1f}' for m in ms)}")
    for name, ms in cpu_ms.items():
        emit(f"  {name:16s} CPU time median {statistics.median(ms):7.1f} ms/step (all threads)")
    if "in_memory" in fastest:
        emit(f"  pipeline alone   {pipeline_alone_ms:7.1f} ms/batch = {pipeline_alone_ms / fastest['in_memory']:.1%} "
              f"of the fastest in-memory step")
    spread = max(max(ms) / min(ms) for ms in per_step_ms.values())
    if spread > 1.2:  # a shared host changes speed between epochs: medians and minimums then compare luck
        emit(f"  note: wall times within one variant span {spread:.2f}x: the machine changed speed during the run; "
             "the paired ratio (neighbouring epochs) and the CPU-time ratio are the ones to read")
    first, second = list(medians)
    paired = statistics.median(a / b for a, b in zip(per_step_ms[first], per_step_ms[second]))
    for label, ratio in (("median of paired ratios", paired), ("ratio of medians", medians[first] / medians[second]),
                         ("ratio of minimums", fastest[first] / fastest[second]),
                         ("ratio of CPU-time medians",
                          statistics.median(cpu_ms[first]) / statistics.median(cpu_ms[second]))):
        verdict = "within" if abs(ratio - 1) <= tolerance else "NOT within"
        emit(f"{first}/{second} {label:24s} = {ratio:.3f}  ({verdict} {tolerance:.0%})")
    if args.out:
        from pathlib import Path

        from zoo.experiment.report import write_atomic

        flag = "--determinism" if args.determinism else "--streaming" if args.streaming else ""
        name = f"input-pipeline{'-' + flag[2:] if flag else ''}.md"
        command = "python benchmarks/input_pipeline.py" + (f" {flag}" if flag else "")
        if args.per_class != 500:
            command += f" --per-class {args.per_class}"
        text = (f"# Is the input pipeline free?\n\nGenerated by `ZOO_DATA_DIR=../shared/data {command} "
                f"--out {args.out}` — do not edit by hand. {args.dataset} {train.split}: {train.num_examples} images, "
                f"{train.num_classes} classes, fingerprint `{train.fingerprint}`.\n\n```\n" + "\n".join(report) + "\n```\n")
        path = Path(args.out) / name
        write_atomic(path, text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
