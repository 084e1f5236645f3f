"""Plain float64 numpy versions of Eqs. 5-9, written for readability.

Every step is the formula as stated (Mechrez et al.'s reference code): the
full N x N matrices, the literal exp of Eq. 6 and the sum of Eq. 7.
"""

import numpy as np


def positions(height, width):
  """(H * W, 2) pixel coordinates divided by max(H, W) - 1, row-major."""
  rows, cols = np.indices((height, width), dtype=np.float64)
  scale = max(max(height, width) - 1, 1)
  return np.stack([rows.ravel(), cols.ravel()], axis=-1) / scale


def column_max_cx(x, y, band_width=0.5, eps=1e-5, spatial_weight=0.0):
  """(B, N) max_i CX_ij for every target j (a spatial term if weight > 0)."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  batch, height, width, channels = x.shape
  mean = y.mean(axis=(0, 1, 2))  # The target's mean over (batch, H, W).
  pos = positions(height, width)
  spatial = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
  out = []
  for b in range(batch):
    xi = (x[b] - mean).reshape(-1, channels)
    yj = (y[b] - mean).reshape(-1, channels)
    xi = xi / np.linalg.norm(xi, axis=1, keepdims=True)
    yj = yj / np.linalg.norm(yj, axis=1, keepdims=True)
    d = (1.0 - xi @ yj.T) / 2.0 + spatial_weight * spatial
    d_rel = d / (d.min(axis=1, keepdims=True) + eps)          # Eq. 5
    w = np.exp((1.0 - d_rel) / band_width)                     # Eq. 6
    cx = w / w.sum(axis=1, keepdims=True)                      # Eq. 7
    out.append(cx.max(axis=0))
  return np.stack(out)


def contextual_loss(x, y, band_width=0.5, eps=1e-5, spatial_weight=0.0):
  """Batch mean of -log CX(x_b, y_b), Eq. 8."""
  column_max = column_max_cx(x, y, band_width, eps, spatial_weight)
  return float(np.mean(-np.log(column_max.mean(axis=1))))
