"""Fast inference on CPU and its measurement: BN folding, one-trace serving, TFLite export, latency tables.

    >>> fast = zoo.perf.fold_batchnorm(model)          # same predictions, no BatchNorm layers
    >>> served = zoo.perf.InferenceModel(model)        # folded, traced once, called directly
    >>> zoo.perf.export_tflite(model, "m.tflite")      # and TFLiteRunner("m.tflite", num_threads=2)
"""

from zoo.perf.fold import count_batchnorm, fold_batchnorm  # noqa: F401
from zoo.perf.inference import InferenceModel  # noqa: F401
from zoo.perf.tflite import TFLiteRunner, export_tflite  # noqa: F401
