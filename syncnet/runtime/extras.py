"""The optional extras: the packages that only some features need, and the one line a user gets
when a feature's extra is not installed.

The core install (requirements.txt) runs the demo, the pipeline, the API and a local batch.
Every import of an extra's package in the library goes through `require` (a test checks), so a
core install never imports one by accident, and a missing one is always the same one line.
"""
import functools
import importlib
import importlib.util
import logging

from syncnet.errors import InputError

log = logging.getLogger("syncnet")

# Each extra's requirements, as pyproject.toml's [project.optional-dependencies] lists them
# (tests/unit/test_install.py keeps the two in step), and the modules that tell it is installed.
EXTRAS = {
    "ray": ("ray[train]>=2.60,<3",),
    "s3": ("boto3>=1.34",),
    "parquet": ("pyarrow>=16",),
    "monitor": ("starlette>=0.37", "uvicorn>=0.29", "prometheus-client>=0.20"),
}
MODULES = {"ray": ("ray",), "s3": ("boto3",), "parquet": ("pyarrow",),
           "monitor": ("starlette", "uvicorn", "prometheus_client")}


def install_hint(extra):
    """The pip command that adds `extra`. It names the requirements themselves, not
    'syncnet[EXTRA]': the name `syncnet` on PyPI is another project, and a checkout's own
    extra (`pip install -e '.[EXTRA]'`) works only from the checkout's folder."""
    return "pip install " + " ".join(f"'{requirement}'" for requirement in EXTRAS[extra]) + \
        f" (the syncnet[{extra}] extra)"


def missing(extra, feature):
    """The error for using `feature` without `extra`."""
    return InputError(f"{feature} needs the optional {extra!r} packages: {install_hint(extra)}")


def available(extra):
    """Whether every module of `extra` can be imported (found, not imported)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in MODULES[extra])
    except (ImportError, ValueError):  # a module set to None in sys.modules, as a test blocks one
        return False


def require(extra, feature, module=None):
    """`module` (default: the extra's first module), imported; if it cannot be, one line naming
    the pip install to run, raised as an InputError."""
    try:
        return importlib.import_module(module or MODULES[extra][0])
    except ImportError:
        raise missing(extra, feature) from None


@functools.lru_cache(maxsize=None)
def warn_missing(extra, consequence):
    """Log once per process what is done without `extra` (`consequence`), and how to add it."""
    log.warning("%s: the optional %r packages are not installed; %s", consequence, extra, install_hint(extra))
