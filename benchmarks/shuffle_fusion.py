"""Can the channel shuffle be fused into ShuffleNet's grouped 1x1 convolution on TensorFlow CPU?

At ShuffleNet g=8 layer sizes, times grouped 1x1 conv (oneDNN, ``tf.nn.convolution``) + ReLU +
reshape/transpose shuffle against: the conv alone (the shuffle's cost), one ``einsum`` that
writes its output directly in shuffled order (``ngi,gio->nog``), a batched matmul + transpose,
and a ``tf.gather`` shuffle. All outputs are checked equal first; candidates are timed
round-robin, median per candidate; ratios are to conv + shuffle.

    python benchmarks/shuffle_fusion.py      # ~1 min on 2 CPU cores
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# (batch, side, in channels, out channels, groups): stage 2 and 3 of ShuffleNet 1x g=8 at 224 px.
CASES = [(1, 28, 384, 96, 8), (32, 28, 384, 96, 8), (32, 14, 768, 192, 8), (1, 14, 768, 192, 8)]


def bench(fns, x, rounds=7, calls=5):
    times = {k: [] for k in fns}
    for f in fns.values():
        f(x)
        f(x)
    for _ in range(rounds):
        for k, f in fns.items():
            start = time.perf_counter()
            for _ in range(calls):
                f(x)
            times[k].append((time.perf_counter() - start) / calls * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def candidates(H, C, B, g, w):
    wg = tf.transpose(tf.reshape(w, (C // g, g, B // g)), (1, 0, 2))  # g, i, o
    idx = np.arange(B).reshape(g, B // g).T.reshape(-1)

    @tf.function
    def conv_shuffle(x):
        y = tf.nn.relu(tf.nn.convolution(x, w))
        y = tf.transpose(tf.reshape(y, (-1, H, H, g, B // g)), (0, 1, 2, 4, 3))
        return tf.reshape(y, (-1, H, H, B))

    @tf.function
    def conv_only(x):
        return tf.nn.relu(tf.nn.convolution(x, w))

    @tf.function
    def einsum_shuffle(x):
        y = tf.einsum("ngi,gio->nog", tf.reshape(x, (-1, g, C // g)), wg)
        return tf.reshape(tf.nn.relu(y), (-1, H, H, B))

    @tf.function
    def bmm_shuffle(x):
        y = tf.matmul(tf.transpose(tf.reshape(x, (-1, g, C // g)), (1, 0, 2)), wg)  # g n o
        return tf.reshape(tf.nn.relu(tf.transpose(y, (1, 2, 0))), (-1, H, H, B))

    @tf.function
    def gather_shuffle(x):
        return tf.gather(tf.nn.relu(tf.nn.convolution(x, w)), idx, axis=3)

    return {"conv+shuffle": conv_shuffle, "conv only": conv_only, "einsum(nog)": einsum_shuffle,
            "bmm+transpose": bmm_shuffle, "gather": gather_shuffle}


def main() -> int:
    rng = np.random.default_rng(0)
    print(f"tensorflow {tf.__version__}, {os.cpu_count()} CPUs; ratios to conv+shuffle (lower is faster)")
    for N, H, C, B, g in CASES:
        x = tf.constant(rng.standard_normal((N, H, H, C)).astype("float32"))
        w = tf.constant(rng.standard_normal((1, 1, C // g, B)).astype("float32"))
        fns = candidates(H, C, B, g, w)
        ref = fns["conv+shuffle"](x).numpy()
        for name in ("einsum(nog)", "bmm+transpose", "gather"):
            np.testing.assert_allclose(fns[name](x).numpy(), ref, atol=1e-3, err_msg=name)
        r = bench(fns, x)
        base = r["conv+shuffle"]
        print(f"N={N} {H}x{H} {C}->{B} g={g}: " + ", ".join(f"{k} {v:.3f} ms ({v / base:.2f})" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
