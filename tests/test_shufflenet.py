"""ShuffleNet v1: Table 1 widths and complexity per group count, the shuffle ablation, knob errors."""

import numpy as np
import pytest
import keras

import zoo
from zoo.layers import ChannelShuffle
from zoo.models.shufflenet import PAPER_MFLOPS, STAGE_CHANNELS, stage_widths


def conv_macs(model, exclude=("head_predictions",)):
    """Multiply-adds of the conv layers (the paper's FLOPs: classifier excluded)."""
    total = 0
    for layer in model.layers:
        if layer.name in exclude or not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        oh, ow, cout = layer.output.shape[1:]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            per_output = np.prod(layer.kernel_size)
        else:
            per_output = np.prod(layer.kernel_size) * layer.input.shape[-1] // layer.groups
        total += oh * ow * cout * per_output
    return int(total)


@pytest.mark.parametrize("groups", sorted(STAGE_CHANNELS))
def test_table1_widths_and_complexity(groups):
    model = zoo.build(f"shufflenet_g{groups}")
    widths = tuple(model.get_layer(f"stage{s}_unit0_out_relu").output.shape[-1] for s in (2, 3, 4))
    assert widths == STAGE_CHANNELS[groups]
    assert model.get_layer("stage4_unit3_out_relu").output.shape[1:3] == (7, 7)
    # Table 1's MFLOPs are rounded to the unit; our count is within 1%.
    assert conv_macs(model) / 1e6 == pytest.approx(PAPER_MFLOPS[groups], rel=0.01)
    # The grouped 1x1 of a stage-3 unit really is grouped: kernel (1, 1, in / g, out / 4).
    kernel = model.get_layer("stage3_unit1_pw1_conv").kernel
    assert tuple(kernel.shape) == (1, 1, widths[1] // groups, widths[1] // 4)


def test_shuffle_false_removes_only_the_shuffles():
    kwargs = dict(groups=3, input_shape=(32, 32, 3), num_classes=7)
    with_shuffle, without = zoo.build("shufflenet", **kwargs), zoo.build("shufflenet", shuffle=False, **kwargs)
    names_with = {layer.name for layer in with_shuffle.layers}
    names_without = {layer.name for layer in without.layers}
    removed = names_with - names_without
    assert names_without <= names_with and len(removed) == sum((4, 8, 4)) - 1  # stage2_unit0 has none
    assert all(isinstance(with_shuffle.get_layer(n), ChannelShuffle) for n in removed)
    assert with_shuffle.count_params() == without.count_params()
    out = with_shuffle(np.random.rand(2, 32, 32, 3).astype("float32"))
    assert out.shape == (2, 7) and np.all(np.isfinite(out))
    assert with_shuffle.get_layer("stage4_unit3_out_relu").output.shape[1:3] == (4, 4)


def test_width_keeps_groups_divisible():
    assert stage_widths(3, 0.5) == (12, 120, 240, 480)
    for groups in STAGE_CHANNELS:
        for width in (0.25, 0.5, 1.5, 2.0):
            stem, *stages = stage_widths(groups, width)
            assert stem % groups == 0
            assert all(c % (4 * groups) == 0 for c in stages)


@pytest.mark.parametrize("knobs, message", [
    ({"groups": 5}, r"groups=5; allowed: one of \[1, 2, 3, 4, 8\]"),
    ({"width": 0}, "width"),
    ({"width": 0.01}, "width"),
    ({"shuffle": "yes"}, "shuffle"),
    ({"input_shape": (16, 16, 3), "small_input": False}, "input_shape"),
])
def test_invalid_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("shufflenet", **knobs)
