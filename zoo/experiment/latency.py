"""Inference latency and throughput: warm up, force the result back, report robust statistics.

Graph mode on TensorFlow (``tf.function(jit_compile=False)``) because eager dispatch
costs more than a tiny model's forward pass; ``.numpy()`` makes the host wait for the
device so each timing covers the whole call. Median and p90 rather than the mean: a
shared CPU has outliers. Other backends time a jitted ``model(x)`` the same way.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def forward_fn(model):
    """``x -> numpy output`` on the fastest plain Keras path: what every latency of the zoo times."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fwd = tf.function(lambda t: model(t, training=False), jit_compile=False)
        return lambda x: fwd(x).numpy()
    if keras.backend.backend() == "jax":
        import jax

        fwd = jax.jit(lambda tv, ntv, t: model.stateless_call(tv, ntv, t, training=False)[0])
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return lambda x: np.asarray(fwd(tv, ntv, x))
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))


def measure_latency(model, batch_size: int = 1, warmup: int = 10, iters: int = 50,
                    input_shape: tuple[int, ...] | None = None, seed: int = 0) -> dict[str, Any]:
    """Time ``iters`` forward passes of a random batch after ``warmup`` untimed ones.

    Args:
        model: a built Keras model with a fixed input shape (or pass ``input_shape``).
        batch_size: images per call; 1 for latency, larger for throughput.
        warmup: untimed calls first (graph tracing, allocator, caches).
        iters: timed calls; median and p90 come from these.
        input_shape: per-image shape; defaults to ``model.input_shape[1:]``.

    Returns:
        A flat dict: ``latency_ms`` (median per call), ``latency_p90_ms``,
        ``images_per_second`` (batch_size / median), ``batch_size``, ``iters``, ``backend``.
    """
    import keras

    for name, value, low in (("batch_size", batch_size, 1), ("iters", iters, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"measure_latency: invalid {name}={value!r}; allowed: an integer >= {low}")
    shape = tuple(input_shape or model.input_shape[1:])
    if any(s is None for s in shape):
        raise ValueError(f"measure_latency: the model's input shape {shape} is not fully known; "
                         "pass input_shape=(height, width, channels)")
    x = np.random.default_rng(seed).uniform(size=(batch_size, *shape)).astype("float32")
    forward = forward_fn(model)
    for _ in range(warmup):
        forward(x)
    times = np.empty(iters)
    for i in range(iters):
        start = time.perf_counter()
        forward(x)
        times[i] = time.perf_counter() - start
    ms = 1000.0 * times
    median = float(np.median(ms))
    return {
        "latency_ms": median,
        "latency_p90_ms": float(np.percentile(ms, 90)),
        "images_per_second": batch_size * 1000.0 / median,
        "batch_size": batch_size,
        "iters": iters,
        "backend": keras.backend.backend(),
    }


def measure_settings(model, settings) -> dict[str, float]:
    """Latency (median/p90 at ``settings.latency_batch``) and throughput, as a suite row records them."""
    latency = measure_latency(model, settings.latency_batch, settings.latency_warmup, settings.latency_iters)
    throughput = measure_latency(model, settings.throughput_batch, settings.throughput_warmup,
                                 settings.throughput_iters)
    return {"latency_ms": latency["latency_ms"], "latency_p90_ms": latency["latency_p90_ms"],
            "throughput": throughput["images_per_second"]}
