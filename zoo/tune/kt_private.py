"""keras-tuner's private API, imported in this one module.

Why private: keras-tuner 1.4 exposes no public way to (a) stop an oracle from counting
budget rejections as trials (``trial.Trial``/``TrialStatus`` to end a search; its
``config.DEBUG`` flag), (b) tell a chief process from a worker (``distribute.utils``),
(c) serve an oracle over gRPC and load saved trials for a report (``protos``,
``oracle_chief``, ``Trial.load``). Checked against keras-tuner 1.4.7 / 1.4.8; if an upgrade
moves them, this file is the only one to change.
"""

from keras_tuner.src import config as kt_config  # noqa: F401
from keras_tuner.src import protos  # noqa: F401
from keras_tuner.src.distribute import oracle_chief  # noqa: F401
from keras_tuner.src.distribute import utils as dist_utils  # noqa: F401
from keras_tuner.src.engine import trial as trial_module  # noqa: F401
from keras_tuner.src.engine.trial import Trial  # noqa: F401
