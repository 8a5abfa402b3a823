"""Model families: importing this package registers every family (one module each)."""

from zoo.models import (  # noqa: F401
    alexnet,
    convnet,
    dilated,
    mobilenet,
    mobilenet_v2,
    resnet,
    shufflenet,
    shufflenet_v2,
    squeezenet,
    xception,
)
