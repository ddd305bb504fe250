"""The environment a run used: versions, device, host, time (saved beside every result)."""

from __future__ import annotations

import platform
import socket
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

PACKAGES = ("backtrack-toolkit", "torch", "transformers", "transformer-lens", "sae-lens", "numpy")


def environment(device: str) -> dict[str, Any]:
    """Versions of Python and the packages results depend on, the device, host and start time."""
    import torch

    from activation_store.models import resolve_device

    device = str(resolve_device(device))
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "packages": versions,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info
