"""cbl_jax: one motion-blurred photo to a short sharp video, in JAX.

Reimplements Niu, Xia and Pan, "Contiguous Loss for Motion-Based, Non-Aligned
Image Deblurring" (Symmetry 2021). The subpackages follow the data flow:
`data` (blur synthesis, input pipeline) -> `models` (generator,
discriminator) -> `losses` (content, adversarial, contiguous) -> training,
prediction and evaluation.
"""

__version__ = "0.1.0"
