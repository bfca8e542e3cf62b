"""The networks as files: finding and verifying model files (SyncNet's and the face
detectors'), SyncNet's network and its loading, and the folded inference form of the lip
network."""
