"""Where the repository is, for tests that read its shipped files (configs, results, scripts)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
