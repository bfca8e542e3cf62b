"""Choosing where the networks run."""
from syncnet.errors import InputError

CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name="auto"):
    """'auto' is CUDA when present, else the CPU; asking for CUDA without it is an error."""
    import torch  # here, not at the top: every command's --help imports this module

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    if name not in CHOICES and not name.startswith("cuda:"):
        raise InputError(f"--device {name!r}: expected one of {', '.join(CHOICES)}")
    return torch.device(name)
