"""The networks as files: finding, verifying and loading SyncNet and S3FD, and the folded
inference form of the lip network."""
