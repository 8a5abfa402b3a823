"""Batch-level augmentations for the tf.data pipeline: vectorised, seeded, uint8 in, uint8 out.

Every function takes a whole batch and a stateless seed (shape [2]), so one random draw
per batch feeds all its images and a run is reproducible for a seed regardless of how
many threads the pipeline uses.
"""

from __future__ import annotations

import math

import tensorflow as tf

AUGMENTS = ("auto", "none", "cifar", "imagenet")
CIFAR_PAD = 4  # pixels of zero padding before the random crop (He et al. 2016, CIFAR ResNets)
CIFAR_MAX_SIZE = 32
"""``augment="auto"`` picks "cifar" for images up to this size, "imagenet" above it."""
RESIZED_CROP_SCALE = (0.35, 1.0)
"""Area fraction of a random resized crop. torchvision uses (0.08, 1) for 224 px ImageNet; at
64 px (Tiny ImageNet) crops below ~1/3 of the area leave too few pixels of the object."""
RESIZED_CROP_RATIO = (3 / 4, 4 / 3)


def resolve_augment(augment: str, image_size: int) -> str:
    if augment not in AUGMENTS:
        raise ValueError(f"augment={augment!r} is not known; allowed: {list(AUGMENTS)}")
    if augment == "auto":
        return "cifar" if image_size <= CIFAR_MAX_SIZE else "imagenet"
    return augment


def random_flip(images, seed):
    """Mirror each image left-right with probability 1/2."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def pad_and_crop(images, seed, pad: int = CIFAR_PAD):
    """Zero-pad by ``pad`` pixels, then take a random crop of the original size per image."""
    n, h, w = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([n, 2], seed, 0, 2 * pad + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    # Exact integer crops by gathering rows then columns per image (no resampling).
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def random_resized_crop(images, seed, scale=RESIZED_CROP_SCALE, ratio=RESIZED_CROP_RATIO):
    """Inception-style crop: random area fraction and aspect ratio, resized back (bilinear).

    Unlike torchvision's 10 rejection-sampling tries, a box that does not fit is clipped
    to the image, which keeps the whole batch in one vectorised op.
    """
    n, h, w = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    s_area, s_ratio, s_y, s_x = tf.unstack(tf.random.split(seed, 4))
    area = tf.random.stateless_uniform([n], s_area, scale[0], scale[1])
    log_ratio = tf.random.stateless_uniform([n], s_ratio, math.log(ratio[0]), math.log(ratio[1]))
    aspect = tf.exp(log_ratio)
    box_w = tf.minimum(tf.sqrt(area * aspect), 1.0)
    box_h = tf.minimum(tf.sqrt(area / aspect), 1.0)
    y0 = tf.random.stateless_uniform([n], s_y) * (1.0 - box_h)
    x0 = tf.random.stateless_uniform([n], s_x) * (1.0 - box_w)
    boxes = tf.stack([y0, x0, y0 + box_h, x0 + box_w], axis=1)
    out = tf.image.crop_and_resize(tf.cast(images, tf.float32), boxes, tf.range(n), tf.stack([h, w]))
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def augment_batch(images, seed, kind: str):
    """Apply the named augmentation ("none", "cifar" or "imagenet") to a uint8 batch."""
    if kind == "none":
        return images
    crop_seed, flip_seed = tf.unstack(tf.random.split(seed, 2))
    if kind == "cifar":
        images = pad_and_crop(images, crop_seed)
    elif kind == "imagenet":
        images = random_resized_crop(images, crop_seed)
    else:
        raise ValueError(f"augment={kind!r} is not known; allowed: {list(AUGMENTS)}")
    return random_flip(images, flip_seed)
