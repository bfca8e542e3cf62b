"""The reference's module name for `SyncNetInstance`, for code written against it; the class
lives in syncnet.cli.instance."""
from syncnet.cli.instance import SyncNetInstance

__all__ = ["SyncNetInstance"]
