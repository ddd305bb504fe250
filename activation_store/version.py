"""The toolkit's version, read from the installed distribution."""

from __future__ import annotations

from importlib import metadata

try:
    TOOLKIT_VERSION = metadata.version("backtrack-toolkit")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    TOOLKIT_VERSION = "0+unknown"
