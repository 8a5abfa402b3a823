"""Fast inference on CPU and its measurement: BN folding, one-trace serving, TFLite/ONNX/OpenVINO
export, post-training quantization, latency tables.

    >>> fast = zoo.perf.fold_batchnorm(model)          # same predictions, no BatchNorm layers
    >>> served = zoo.perf.InferenceModel(model)        # folded, traced once, called directly
    >>> zoo.perf.export_tflite(model, "m.tflite")      # and TFLiteRunner("m.tflite", num_threads=2)
    >>> zoo.perf.export_tflite(model, "q.tflite", mode="int8", calibration=images)  # see zoo.perf.quantize
    >>> zoo.perf.export_onnx(model, "m.onnx")          # and OnnxRunner; export_openvino / OpenVINORunner
"""

from zoo.perf.fold import count_batchnorm, fold_batchnorm  # noqa: F401
from zoo.perf.inference import InferenceModel  # noqa: F401
from zoo.perf.portable import OnnxRunner, OpenVINORunner, export_onnx, export_openvino  # noqa: F401
from zoo.perf.quantize import evaluate_tflite, time_tflite  # noqa: F401
from zoo.perf.tflite import TFLiteRunner, export_tflite  # noqa: F401
