"""The contiguous blurry loss (CBL) of Niu et al. (2021), Eqs. 9-10.

The contextual loss (Eqs. 5-8, `cbl_jax.losses.contextual`) ignores where a
feature is. Section 3.2 adds "the spatial pixel coordinates and pixel-level
RGB information" so that a predicted frame is also pulled towards the
target's layout. As printed, the equations cannot be used:

* Eq. 9, ``CX_f = 1/N sum_j max_i CX'_ij (CX_ij + 1)`` with
  ``CX'_ij = ||(x_i, y_i) - (x_j, y_j)||``, multiplies by a raw distance: the
  best match is the one *farthest* away, and a perfectly aligned match scores
  0 (READING-NOTES.md, note 6).
* Eq. 10, ``-log(CX'(x, y) (CX(x, y) + 1))``, uses an image-level CX' that is
  never defined, and the ``+ 1`` lets the loss go negative.

Reading used here: the contextual *bilateral* loss (CoBi) of Zhang et al.,
"Zoom to Learn, Learn to Zoom" (CVPR 2019). The spatial distance is added to
the feature distance before Eq. 5's normalisation:

  ``d_ij = (1 - cos(x_i, y_j)) / 2 + spatial_weight * ||p_i - p_j||``,

with ``p`` the pixel coordinates divided by ``max(H, W) - 1`` (the longer
side spans [0, 1]). Everything else is the contextual loss:

======  =================================================================
Eq. 5   ``d~_ij = d_ij / (min_k d_ik + eps)``, with the d_ij above
        (`contextual._chunk_log_cx_max`: ``dist``, ``dmin``).
Eq. 6   ``w_ij = exp((1 - d~_ij) / h)``, formed shifted by its row maximum
        (``logits``).
Eq. 7   ``CX_ij = w_ij / sum_k w_ik``, a softmax over targets k (``log_cx``).
Eq. 8   ``CX = mean_j max_i CX_ij``: running max over row chunks, then a
        log-mean-exp over j (`contextual.contextual_loss_with_positions`).
Eq. 9   ``CX_f``: Eq. 8 on the bilateral d_ij; the spatial coordinates enter
        through the distance, not as a factor. Pixel RGB enters through the
        features (`features.patch_features`, ``append_rgb``).
Eq. 10  ``L = -log CX_f``, averaged over the batch.
======  =================================================================

Why this reading: (a) with ``spatial_weight=0`` it is exactly the contextual
loss (the same code path, bit for bit); (b) when the prediction equals the
target, every ``d_ii`` is 0, so each target has a perfect, aligned match and
the loss is about 0, its minimum; (c) moving a feature away from where the
target has it adds to its distance, so the loss grows with the displacement.
Zhang et al.'s paper writes CoBi with this additive distance; their released
code instead mixes two contextual similarities, ``(1 - w) CX_feat + w CX_sp``.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp

from cbl_jax.losses import contextual
from cbl_jax.losses import features as features_lib


def contiguous_loss(
    x: jax.Array,
    y: jax.Array,
    *,
    spatial_weight: float | jax.Array = 0.1,
    band_width: float = 0.5,
    eps: float = 1e-5,
    chunk_size: contextual.ChunkSize = "auto",
    num_samples: int | None = None,
    rng: jax.Array | None = None,
    precision: contextual.PrecisionLike = contextual.DEFAULT_PRECISION,
) -> jax.Array:
  """Contiguous blurry loss, Eqs. 9-10 read as the contextual bilateral loss.

  See the module docstring for the mapping from each equation to the code.
  Shares `contextual.contextual_loss`'s chunked, memory-bounded kernel.

  Args:
    x: (B, H, W, C) features of the generated frames (float32 or bfloat16).
    y: (B, H, W, C) features of the target frames, same shape.
    spatial_weight: weight of the distance between normalised pixel
      coordinates (about 0.1 in Zhang et al.). 0 gives exactly
      `contextual_loss`.
    band_width: h of Eq. 6.
    eps: epsilon of Eq. 5.
    chunk_size: rows per chunk, "auto" or None (see `contextual_loss`).
    num_samples: compare only this many random locations, shared by x and y
      (their coordinates follow them).
    rng: PRNG key used when ``num_samples`` is set.
    precision: of the cosine matmul, "highest" (exact) by default (see
      `contextual_loss`).

  Returns:
    Scalar float32 loss, the batch mean of ``-log CX_f(x_b, y_b)``.

  Raises:
    ValueError: on mismatched shapes, a bad chunk_size or precision, or
      num_samples without rng.
  """
  if isinstance(spatial_weight, (int, float)) and spatial_weight == 0:
    # Same computation as contextual_loss, so the two agree exactly.
    spatial_weight = None
  return contextual.contextual_loss_with_positions(
      x, y,
      spatial_weight=spatial_weight,
      band_width=band_width,
      eps=eps,
      chunk_size=chunk_size,
      num_samples=num_samples,
      rng=rng,
      precision=precision,
      loss_name="contiguous_loss",
  )


def frames_contiguous_loss(
    pred: jax.Array,
    target: jax.Array,
    *,
    features: str = "patches",
    spatial_weight: float | jax.Array = 0.1,
    band_width: float = 0.5,
    eps: float = 1e-5,
    patch_size: int = 3,
    patch_stride: int = 1,
    append_rgb: bool = False,
    vgg_params: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    vgg_layers: Sequence[str] = features_lib.DEFAULT_VGG19_LAYERS,
    chunk_size: contextual.ChunkSize = "auto",
    num_samples: int | None = None,
    rng: jax.Array | None = None,
    precision: contextual.PrecisionLike = contextual.DEFAULT_PRECISION,
) -> jax.Array:
  """Contiguous loss between predicted and target frame sequences.

  Every frame is compared with the target frame at the same time step: the
  T frames are folded into the batch, features are extracted, and
  `contiguous_loss` is applied to each feature map. With several VGG layers
  the per-layer losses are summed, as in Mechrez et al.'s code.

  Args:
    pred: (B, T, H, W, C) generated frames in [0, 1].
    target: (B, T, H, W, C) sharp frames in [0, 1].
    features: extractor name, "patches" or "vgg19" (`features.py`).
    spatial_weight: see `contiguous_loss`.
    band_width: h of Eq. 6.
    eps: epsilon of Eq. 5.
    patch_size: "patches": side of a patch.
    patch_stride: "patches": step between patches. The cost is quadratic in
      the number of locations; a 128 x 128 crop at stride 1 has 15876.
    append_rgb: "patches": append each patch's centre colour.
    vgg_params: "vgg19": variables from `load_vgg19_params`, or the file.
    vgg_layers: "vgg19": layers compared.
    chunk_size: rows per chunk, "auto" or None (see `contextual_loss`).
    num_samples: compare only this many random locations per feature map.
    rng: PRNG key, needed only with ``num_samples``; split per layer.
    precision: of the loss's cosine matmul (see `contextual_loss`); the
      features themselves are computed as `features.py` says.

  Returns:
    Scalar float32 loss.

  Raises:
    ValueError: on mismatched shapes, an unknown extractor, "vgg19"
      without weights, or a bad precision.
  """
  if pred.ndim != 5 or pred.shape != target.shape:
    raise ValueError(
        "frames_contiguous_loss expects pred and target of the same shape"
        f" (B, T, H, W, C); got {pred.shape} and {target.shape}."
    )
  # Before any feature is extracted, so that a typo costs no VGG pass.
  contextual.check_precision(precision, "frames_contiguous_loss")
  flat = lambda v: v.reshape((-1,) + v.shape[2:])
  options = dict(patch_size=patch_size, patch_stride=patch_stride,
                 append_rgb=append_rgb, vgg_params=vgg_params,
                 vgg_layers=vgg_layers)
  pred_maps = features_lib.extract_features(flat(pred), features, **options)
  target_maps = features_lib.extract_features(flat(target), features,
                                              **options)
  total = jnp.zeros((), jnp.float32)
  for layer, (x, y) in enumerate(zip(pred_maps, target_maps)):
    layer_rng = None if rng is None else jax.random.fold_in(rng, layer)
    total = total + contiguous_loss(
        x, y,
        spatial_weight=spatial_weight,
        band_width=band_width,
        eps=eps,
        chunk_size=chunk_size,
        num_samples=num_samples,
        rng=layer_rng,
        precision=precision,
    )
  return total
