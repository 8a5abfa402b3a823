"""What every exporter shares: checking the output path before converting, writing the file
atomically, and turning a converter's failure into one line that names the layer.

Converters (the TFLite converter, tf2onnx, OpenVINO's ``convert_model``) report an
unsupported op with its TF name scope, e.g. ``functional_1/odd_layer_1/bessel_i1e/BesselI1e``;
Keras 3 scopes each layer's ops under the layer's name (plus a ``_<n>`` suffix), so the
layer is found by matching those path components against the model's layer names.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

from zoo.experiment.report import OutputError, ensure_dir, write_atomic

# "scope/layer_1/op" paths inside converter messages; the op type follows ": " or "[" ... "]".
_OP_PATH = re.compile(r"[\w.\-]+(?:/[\w.\-]+)+")
_TF_OP = re.compile(r"'tf\.(\w+)' op|Custom ops: ([\w, ]+)|op \[[^\]:]+: (\w+)\] is not supported"
                    r"|No conversion rule found for operations: ([\w, ]+)")


def check_output(path: str | Path, suffix: str, option: str) -> Path:
    """The output ``path`` as a Path, after checking (before any slow conversion) that it ends in
    ``suffix`` and that its folder exists or can be made and takes a new file."""
    path = Path(path)
    if path.suffix != suffix:
        raise ValueError(f"{option} expects a path ending in {suffix}, got {str(path)!r}")
    if path.is_dir():
        raise OutputError(21, f"cannot write {path}: it is a folder")
    existing = next((p for p in path.parents if p.exists()), Path("."))
    if not existing.is_dir():
        raise OutputError(20, f"cannot write {path}: {existing} is a file, not a folder")
    folder = ensure_dir(path.parent)
    probe = folder / f".{path.name}.{os.getpid()}.probe"
    try:
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise OutputError(err.errno, f"cannot write {path}: {err.strerror or err}") from None
    return path


def write_output(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` in one step (a failure leaves no partial file); the path back."""
    path = Path(path)
    ensure_dir(path.parent)
    write_atomic(path, data)
    return path


@contextlib.contextmanager
def native_output_dropped():
    """Drop what native (C++) converter code writes to file descriptors 1 and 2 meanwhile.

    The TFLite converter prints MLIR diagnostics and "fully_quantize: ..." lines there, past
    Python's sys.stdout/sys.stderr; on failure its exception carries the same diagnostics,
    which ``conversion_error`` condenses to one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def layer_in_message(message: str, model) -> str | None:
    """The name of the model's layer that a converter message points at, or None (the scope
    of an op the message calls unsupported comes first)."""
    names = {layer.name for layer in _all_layers(model)}
    ops = set(ops_in_message(message))
    paths = sorted(_OP_PATH.findall(message), key=lambda p: p.rsplit("/", 1)[-1] not in ops)
    for op_path in paths:
        for part in reversed(op_path.split("/")[:-1]):  # innermost scope first; the last part is the op
            for candidate in (re.sub(r"_\d+$", "", part), part):
                if candidate in names and candidate != model.name:
                    return candidate
    return None


def layer_of_ops(model, ops) -> str | None:
    """The layer whose traced TF graph holds an op of one of these types (for converters that
    name only the op type, as OpenVINO does), or None."""
    if not ops:
        return None
    import tensorflow as tf

    try:
        spec = tf.TensorSpec(model.input_shape, tf.float32)
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    except Exception:  # noqa: BLE001 - only a hint for the message: never mask the real error
        return None
    paths = [op.name + "/" for op in graph.get_operations() if op.type in ops]  # the op itself last
    return layer_in_message(" ".join(paths), model)


def ops_in_message(message: str) -> list[str]:
    """The TF op types a converter message says it cannot convert, in order, without repeats."""
    found = []
    for groups in _TF_OP.findall(message):
        for group in groups:
            for op in group.split(","):
                op = op.strip()
                if op and op not in found:
                    found.append(op)
    return found


def conversion_error(err: BaseException, model, fmt: str) -> ValueError:
    """A one-line ValueError for a failed conversion to ``fmt``: the layer (and op) when the
    converter's message names them, else the converter's first error line."""
    message = str(err)
    ops = ops_in_message(message)
    layer = layer_in_message(message, model) or layer_of_ops(model, ops)
    what = f"op {', '.join(ops)}" if ops else "an op"
    if layer is not None:
        kind = type(_find_layer(model, layer)).__name__
        return ValueError(f"{fmt} cannot convert layer {layer!r} ({kind}) of model {model.name!r}: "
                          f"{what} has no {fmt} equivalent")
    first = next((line.strip() for line in message.splitlines() if "error" in line.lower()), message.strip())
    return ValueError(f"{fmt} cannot convert model {model.name!r} ({what} not supported): {first[:300]}")


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _find_layer(model, name: str):
    return next(layer for layer in _all_layers(model) if layer.name == name)
