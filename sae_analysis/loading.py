"""Load an SAE through sae_lens: a local directory, a built-in short name, or ``release:sae_id``.

- A directory in sae_lens's saved format (``cfg.json`` + ``sae_weights.safetensors``, as written by
  ``SAE.save_model``) loads with ``SAE.load_from_disk``.
- A short name is a directory under ``sae_analysis/pretrained/`` (e.g. the model organism's SAE).
- ``release:sae_id`` loads from sae_lens's pretrained registry (``SAE.from_pretrained``) with the hub
  forced offline: the files must already be in the local Hugging Face cache (see
  :mod:`sae_analysis.hub_cache`). Real-scale targets: Llama Scope residual SAEs for Llama-3.1-8B
  (``llama_scope_lxr_8x:l10r_8x``, ``llama_scope_lxr_32x:l10r_32x``) and for
  DeepSeek-R1-Distill-Llama-8B (``llama_scope_r1_distill:l10r_800m_slimpajama``; sae_lens's metadata
  of the latter names the base model, which is detected, warned about, and corrected to the
  registry's model).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from activation_store.core.errors import ModelLoadError

if TYPE_CHECKING:
    from sae_lens import SAE

log = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
"""Built-in SAEs: each subdirectory holding a ``cfg.json`` is loadable by its name."""
SaeSource = Literal["directory", "builtin", "pretrained"]
SaeDtype = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True, kw_only=True)
class LoadedSae:
    """An sae_lens SAE and what is known about what it was trained on."""

    sae: SAE[Any]
    """The sae_lens SAE (eval mode, no gradients needed)."""
    sae_id: str
    """How it was named: a directory, a built-in name, or ``release:sae_id``."""
    source: SaeSource
    architecture: str
    """sae_lens architecture: standard, jumprelu, topk, gated, ..."""
    hook_name: str | None
    """Hook the SAE was trained on, from its metadata (None when unrecorded)."""
    model_name: str | None
    """Model the SAE was trained on: the registry's model for pretrained SAEs, else the metadata's."""
    metadata_model_name: str | None
    """``cfg.metadata.model_name`` as sae_lens loaded it (may disagree with ``model_name``)."""
    warnings: tuple[str, ...] = ()
    """Problems noticed while loading (also logged)."""

    @property
    def d_in(self) -> int:
        return int(self.sae.cfg.d_in)

    @property
    def d_sae(self) -> int:
        return int(self.sae.cfg.d_sae)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary, saved with every result."""
        return {
            "sae_id": self.sae_id,
            "source": self.source,
            "architecture": self.architecture,
            "d_in": self.d_in,
            "d_sae": self.d_sae,
            "hook_name": self.hook_name,
            "model_name": self.model_name,
            "metadata_model_name": self.metadata_model_name,
            "dtype": str(self.sae.cfg.dtype),
            "normalize_activations": self.sae.cfg.normalize_activations,
            "warnings": list(self.warnings),
        }


def builtin_sae_names() -> list[str]:
    """Short names of the SAEs shipped in ``sae_analysis/pretrained/``."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in PRETRAINED_DIR.glob("*/cfg.json"))


def load_sae(spec: str | Path, *, device: str = "cpu", dtype: SaeDtype = "float32") -> LoadedSae:
    """Load an SAE from a directory, a built-in short name or ``release:sae_id`` (never downloads).

    ``device`` is cpu, cuda, cuda:N or auto; asking for a GPU that is not there is an error.
    """
    from activation_store.models.device import resolve_device

    device = str(resolve_device(device))
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return _from_directory(path, text, "directory", device, dtype)
    if text in builtin_sae_names():
        return _from_directory(PRETRAINED_DIR / text, text, "builtin", device, dtype)
    match = re.fullmatch(r"([^:/\\]+):([^:]+)", text)
    if match:
        return _from_registry(match.group(1), match.group(2), device, dtype)
    raise ModelLoadError(
        f"SAE {text!r} is not a directory, a built-in name ({', '.join(builtin_sae_names()) or 'none'}), "
        "or RELEASE:SAE_ID from sae_lens's registry (e.g. llama_scope_lxr_8x:l10r_8x)"
    )


def _from_directory(
    path: Path, sae_id: str, source: SaeSource, device: str, dtype: SaeDtype
) -> LoadedSae:
    from sae_lens import SAE

    if not (path / "cfg.json").is_file():
        raise ModelLoadError(
            f"no cfg.json in {str(path)!r}; an SAE directory holds sae_lens's saved format "
            "(cfg.json + sae_weights.safetensors, as written by SAE.save_model)"
        )
    try:
        sae = SAE.load_from_disk(path, device=device, dtype=dtype)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelLoadError(f"cannot load the SAE in {str(path)!r}: {_one_line(err)}") from err
    meta_model = _meta(sae, "model_name")
    return _finish(sae, sae_id, source, model_name=meta_model, extra=())


def _from_registry(release: str, sae_id: str, device: str, dtype: SaeDtype) -> LoadedSae:
    from sae_lens import SAE

    from activation_store.models.offline import offline_hub
    from sae_analysis.hub_cache import pretrained_entry

    entry = pretrained_entry(release, sae_id)
    try:
        with offline_hub():
            sae = SAE.from_pretrained(release, sae_id, device=device, dtype=dtype)
    except OSError as err:  # LocalEntryNotFoundError is a FileNotFoundError
        raise ModelLoadError(entry.missing_message(err)) from err
    except (ValueError, KeyError, RuntimeError) as err:
        raise ModelLoadError(
            f"cannot load pretrained SAE {release}:{sae_id}: {_one_line(err)}"
        ) from err
    extra: tuple[str, ...] = ()
    meta_model = _meta(sae, "model_name")
    if meta_model is not None and meta_model != entry.model:
        extra = (
            f"sae_lens metadata of {release}:{sae_id} names model {meta_model!r}, but the release "
            f"is for {entry.model!r}; using the release's model for the checks",
        )
    return _finish(
        sae,
        f"{release}:{sae_id}",
        "pretrained",
        model_name=entry.model,
        extra=extra,
    )


def _finish(
    sae: SAE[Any],
    sae_id: str,
    source: SaeSource,
    *,
    model_name: str | None,
    extra: tuple[str, ...],
) -> LoadedSae:
    sae.eval()
    notes = list(extra)
    if sae.cfg.normalize_activations == "expected_average_only_in":
        notes.append(
            f"SAE {sae_id} expects inputs rescaled by a norm factor that is not stored with it "
            "(normalize_activations=expected_average_only_in); fold it in with "
            "sae.fold_activation_norm_scaling_factor before use, or expect a failed preflight"
        )
    for note in notes:
        log.warning("%s", note)
    loaded = LoadedSae(
        sae=sae,
        sae_id=sae_id,
        source=source,
        architecture=str(sae.cfg.architecture()),
        hook_name=_meta(sae, "hook_name"),
        model_name=model_name,
        metadata_model_name=_meta(sae, "model_name"),
        warnings=tuple(notes),
    )
    log.info(
        "loaded SAE %s (%s, d_in %d, d_sae %d, hook %s, model %s)",
        sae_id,
        loaded.architecture,
        loaded.d_in,
        loaded.d_sae,
        loaded.hook_name,
        loaded.model_name,
    )
    return loaded


def _meta(sae: SAE[Any], key: str) -> str | None:
    value = sae.cfg.metadata.get(key)
    return str(value) if value not in (None, "") else None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__
