"""The experiment layer: what every entry point (zoo bench, zoo tune, the claims, the perf tables) shares.

- ``specfile``: TOML spec files read once, keys and values checked with file/line errors.
- ``dataset``: the ``[dataset]`` section and its train/eval splits.
- ``settings``: measurement settings with one set of defaults (``LatencySettings``).
- ``configs``: model entries, grids, run ids, checked through the registry.
- ``run``: train and measure one configuration (the runner's and the claims' one path).
- ``distribute``: where a run trains (tf.distribute strategies, ``$TF_CONFIG``, the chief).
- ``latency``: how a forward pass is timed.
- ``provenance``: versions, code, machine, data fingerprints.
- ``report``: atomic writes, CSV and Markdown tables, Pareto fronts; ``readme`` embeds tables.
- ``tensorboard``: HParams and scalars every run writes.

A new setting is added in one place: the section's parser here (or ``zoo.training.Recipe``
for training hyperparameters), and every entry point gets it.
"""
