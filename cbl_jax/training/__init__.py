"""Training: the state, the pure train steps, checkpoints and the loop."""
