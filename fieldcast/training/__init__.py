"""Training: models, losses, the trainer, checkpoints and export. torch, never Qt."""
