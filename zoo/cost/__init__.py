"""The project's one cost model: parameters, MACs and receptive field per layer call.

    >>> report = zoo.cost.analyze(model)            # one example, batch axis left out
    >>> report.params, report.macs, report.flops    # flops == 2 * macs
    >>> print(report.format_table(top=10))

Conventions (see ``zoo.cost.rules``): MACs count the multiply-accumulates of linear
layers (conv, dense) as the papers' "mult-adds" do; bias adds, activations, pooling,
residual adds and concatenation are free; BatchNormalization is free (folded into
the preceding conv at inference) but its parameters count. Receptive fields are the
theoretical ones (they may exceed the input); global pooling and Dense on a flat
vector see at least the whole input.
"""

from zoo.cost.analyze import MACS_NOTE, CostReport, LayerCost, analyze, human  # noqa: F401
from zoo.cost.rules import Field, Rule, find_rule, register_rule  # noqa: F401
