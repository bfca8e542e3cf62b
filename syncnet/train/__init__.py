"""Training and fine-tuning SyncNet: syncnet-train's engine (see docs/training.md)."""
