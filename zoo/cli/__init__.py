"""The ``zoo`` command line: one sub-command per module in this package.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Keeping the modules separate keeps ``zoo --help`` fast: a
command's heavy imports (TensorFlow) happen only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "list": "zoo.cli.list_models",
    "summary": "zoo.cli.summary",
    "costs": "zoo.cli.costs",
    "bench": "zoo.cli.bench",
    "tune": "zoo.cli.tune",
    "analyze": "zoo.cli.analyze",
    "prune": "zoo.cli.prune",
    "claims": "zoo.cli.claims",
    "fidelity": "zoo.cli.fidelity",
    "export": "zoo.cli.export",
    "latency": "zoo.cli.latency",
    "conv-types": "zoo.cli.conv_types",
    "readme": "zoo.cli.readme",
    "predict": "zoo.cli.predict",
    "convert-weights": "zoo.cli.convert_weights",
    "pick": "zoo.cli.pick",
    "quantization": "zoo.cli.quantization",
    "finetune-report": "zoo.cli.finetune_report",
}


def parse_set(items: list[str] | None) -> dict:
    """``--set groups=3 --set width=0.5`` -> {"groups": 3, "width": 0.5} (values parsed as TOML)."""
    import tomllib

    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word: keep it as a string (e.g. --set conv=separable)
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    return out


def load_or_build(target: str, knobs: dict | None = None):
    """A ``.keras`` path is loaded (zoo layers registered); anything else is a registry name."""
    from pathlib import Path

    import zoo

    if target.endswith(".keras") or Path(target).exists():
        if knobs:
            raise ValueError(f"--set applies to registered names only, not to the file {target!r}")
        if not Path(target).is_file():
            raise FileNotFoundError(f"no such model file: {target!r}")
        try:
            return zoo.load_model(target, compile=False)  # analyses need the layers, not the optimizer
        except Exception as err:  # a broken or foreign file: say which, without a traceback
            raise ValueError(f"cannot load {target!r} as a Keras model: {err}") from err
    return zoo.build(target, **(knobs or {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        modules[name] = module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    args = parser.parse_args(argv)
    previous = _stop_on_sigterm()
    try:
        return int(modules[args.command].run(args) or 0)
    except (ValueError, TypeError, OSError) as err:
        # Bad input gets one clear line, not a traceback; ZOO_DEBUG=1 shows the traceback.
        import os

        if os.environ.get("ZOO_DEBUG"):
            raise
        print(f"zoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"zoo {args.command}: interrupted; finished results are kept, rerun to resume.", file=sys.stderr)
        return 130
    finally:
        _restore_sigterm(previous)


def _stop_on_sigterm():
    """SIGTERM (a scheduler, ``kill``) stops a command the way Ctrl-C does: the lock is released,
    finished rows are kept and the message says so. Returns the handler it replaced."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        if "zoo.training" in sys.modules:  # also stop at the next batch, should this raise be lost
            sys.modules["zoo.training"].request_stop()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        import signal

        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
