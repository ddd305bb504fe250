"""sae_lens's pretrained registry, resolved strictly from the local Hugging Face cache.

``release:sae_id`` names an SAE in sae_lens's ``pretrained_saes.yaml`` (e.g.
``llama_scope_lxr_8x:l10r_8x``). Nothing is downloaded at run time: the files must already be in the
Hugging Face cache (``$HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``), put there on a
connected machine. When they are not, the error names the release, the repository and the folder
where they were expected, and the command that fetches them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from activation_store.core.errors import ModelLoadError


@dataclass(frozen=True, kw_only=True)
class PretrainedEntry:
    """One SAE of sae_lens's registry."""

    release: str
    sae_id: str
    repo_id: str
    """Hugging Face repository, e.g. ``fnlp/Llama3_1-8B-Base-LXR-8x``."""
    folder: str
    """Folder of this SAE inside the repository."""
    model: str
    """The model the registry says the release is for."""
    conversion_func: str | None

    def expected_dir(self) -> Path:
        """Where the hub cache keeps this SAE's files (the revision is whatever ``refs/main`` names)."""
        from huggingface_hub import constants

        repo_dir = Path(constants.HF_HUB_CACHE) / ("models--" + self.repo_id.replace("/", "--"))
        return repo_dir / "snapshots" / "<revision>" / self.folder

    def missing_message(self, err: BaseException) -> str:
        reason = " ".join(str(err).split())[:160]
        return (
            f"pretrained SAE {self.release}:{self.sae_id} is not in the local Hugging Face cache "
            f"(repo {self.repo_id}, expected under {self.expected_dir()}/; {reason}). Nothing is "
            f"downloaded at run time: on a connected machine run `hf download {self.repo_id} "
            f"--include '{self.folder}/*'` and copy the cache here, or pass a local directory in "
            "sae_lens's format (cfg.json + sae_weights.safetensors)"
        )


def pretrained_entry(release: str, sae_id: str) -> PretrainedEntry:
    """Look ``release:sae_id`` up in sae_lens's registry; unknown names list close matches."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    directory = get_pretrained_saes_directory()
    if release not in directory:
        close = difflib.get_close_matches(release, list(directory), n=5, cutoff=0.5)
        raise ModelLoadError(
            f"unknown sae_lens release {release!r}; close matches: {', '.join(close) or 'none'} "
            "(pass RELEASE:SAE_ID, e.g. llama_scope_lxr_8x:l10r_8x, or a local SAE directory)"
        )
    lookup = directory[release]
    if sae_id not in lookup.saes_map:
        ids = list(lookup.saes_map)
        close = difflib.get_close_matches(sae_id, ids, n=5, cutoff=0.4) or ids[:5]
        raise ModelLoadError(
            f"release {release!r} has no SAE {sae_id!r}; e.g. {', '.join(close)} "
            f"({len(ids)} ids in all)"
        )
    return PretrainedEntry(
        release=release,
        sae_id=sae_id,
        repo_id=lookup.repo_id,
        folder=lookup.saes_map[sae_id],
        model=lookup.model,
        conversion_func=lookup.conversion_func,
    )
