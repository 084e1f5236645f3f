"""Image-quality metrics for predicted frame sequences."""
