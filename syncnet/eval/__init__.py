"""syncnet-eval: a dataset through the batch runner, then a published LSE protocol's rules."""
