"""Dilated context network: equal parameters with and without dilation, receptive field growth."""

import numpy as np
import pytest

import zoo
from zoo.blocks.dilated import BASIC_DILATIONS, PAPER_RECEPTIVE_FIELDS, context_receptive_fields

SMALL = dict(input_shape=(32, 32, 3), num_classes=7)


@pytest.fixture(scope="module")
def with_context():
    return zoo.build("dilated", **SMALL)


def test_receptive_field_recurrence_matches_paper_table():
    assert context_receptive_fields(BASIC_DILATIONS) == PAPER_RECEPTIVE_FIELDS
    assert context_receptive_fields((1,) * 7)[-1] == 15


def test_dilation_changes_receptive_field_not_params(with_context):
    ones = zoo.build("dilated", dilations=(1,) * 7, **SMALL)
    plain = zoo.build("dilated_plain", **SMALL)
    assert with_context.count_params() == ones.count_params() == plain.count_params()
    rates = [with_context.get_layer(f"context_layer{i}_conv").dilation_rate[0] for i in range(1, 8)]
    assert tuple(rates) == BASIC_DILATIONS
    assert all(plain.get_layer(f"context_layer{i}_conv").dilation_rate == (1, 1) for i in range(1, 8))
    dilated_cost, plain_cost = zoo.cost.analyze(with_context), zoo.cost.analyze(plain)
    assert dilated_cost.macs == plain_cost.macs
    assert dilated_cost.receptive_field[0] > plain_cost.receptive_field[0]


def test_small_input_output_stride_and_forward(with_context):
    assert with_context.get_layer("context_layer8_relu").output.shape[1:] == (16, 16, 64)
    out = with_context(np.random.rand(2, 32, 32, 3).astype("float32"))
    assert out.shape == (2, 7) and np.all(np.isfinite(out))
    large = zoo.build("dilated", width=0.5, include_top=False)
    assert large.output_shape == (None, 28, 28, 32)  # output stride 8 at 224x224


@pytest.mark.parametrize("knobs, message", [
    ({"dilations": ()}, "dilations"),
    ({"dilations": (1, 0, 2)}, "dilations"),
    ({"dilations": (1, 2.5)}, "dilations"),
    ({"dilations": 4}, "dilations"),
    ({"width": -1}, "width"),
    ({"input_shape": (4, 4, 3), "small_input": False}, "input_shape"),
])
def test_invalid_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("dilated", **knobs)
