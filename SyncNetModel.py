"""The reference's module name for the SyncNet network `S`, for code written against it; the
network lives in syncnet.models.network."""
from syncnet.models.network import S

__all__ = ["S"]
