"""Model families: importing this package registers every family (one module each)."""

import importlib

FAMILIES = (
    "squeezenet",
    "mobilenet",
    "mobilenet_v2",
    "shufflenet",
    "shufflenet_v2",
    "xception",
    "alexnet",
    "dilated",
    "convnet",
    "resnet",
)

for _family in FAMILIES:
    try:
        importlib.import_module(f"zoo.models.{_family}")
    except ModuleNotFoundError as err:  # families still being written are simply absent
        if err.name != f"zoo.models.{_family}":
            raise
