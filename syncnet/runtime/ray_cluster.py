"""Ray's connection, for every engine that runs on a Ray cluster (syncnet-batch's and
syncnet-train's --engine ray): joining a cluster or starting a private runtime, with what the
workers need to import this package."""
import logging
import os

from syncnet.errors import InputError, one_line
from syncnet.runtime import CODE_ROOT, extras

RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
LOCAL_OBJECT_STORE = 256 << 20  # the records are small; Ray's default would take 30% of memory


def import_ray(module="ray"):
    """`module` of Ray, imported; without the ray extra, the one line that says how to add it."""
    return extras.require("ray", "--engine ray", module)


def _runtime_env():
    """Workers import this package from where the driver has it, unless it is installed there."""
    paths = [os.fspath(CODE_ROOT)] + [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return {"env_vars": env}


def connect(options, quiet):
    """Join the cluster at options.address (a syncnet.options.RayOptions), or start a private
    runtime; True when this call initialised Ray (and so must shut it down)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    # Ray's advice on its token authentication speaks to whoever runs the cluster, not to the
    # user of a batch: kept out of the batch's diagnostics (RAY_AUTH_MODE still decides the mode).
    logging.getLogger(RAY_AUTH_LOGGER).setLevel(logging.ERROR)
    settings = {"runtime_env": _runtime_env(), "log_to_driver": not quiet, "logging_level": logging.WARNING}
    if options.address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 object_store_memory=LOCAL_OBJECT_STORE, **settings)
    else:
        try:
            ray.init(address=options.address, **settings)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise InputError(f"--ray_address {options.address}: cannot connect ({one_line(error, 200)})") from None
    return True
