"""Data: blur synthesis (Eq. 2), dataset building blocks and the input pipeline.

Modules, in the order data flows:

* `blur`: Eq. 2, camera responses and the 7 targets of longer windows.
* `frames_io`: reading, decoding and PNG-encoding frames (images, videos).
* `synthetic_motion`: the procedural renderer behind the embedded default.
* `frame_store`: decoded frames in chunked zarr arrays (tensorstore), so
  that a random crop reads only the crop's chunks.
* `builder_lib`: what the TFDS builders in `tfds_builders/` share.
* `pipeline`: grain over `tfds.data_source` and the frame store: training
  and evaluation batches.

Importing this package imports none of them, so `blur` stays usable without
TFDS, grain or JAX.
"""
