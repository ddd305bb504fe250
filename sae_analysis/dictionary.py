"""Read-only views of an SAE's decoder that never copy the whole matrix.

A real-scale dictionary (Llama Scope 32x: 131k × 4096) is 2 GiB in float32 and 1 GiB in bfloat16,
so products with it are computed chunk by chunk in float32: the decoder is read, never duplicated.
Rows of ``W_dec`` are the features' output directions in the residual stream (sae_lens convention:
``W_dec`` is ``[d_sae, d_in]``).
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

CHUNK_ROWS = 16384
"""Decoder rows converted to float32 at a time when the decoder is stored in lower precision."""


@torch.no_grad()
def decoder_matvec(
    W_dec: Float[Tensor, "d_sae d_in"], x: Float[Tensor, " d_in"], *, chunk_rows: int = CHUNK_ROWS
) -> Float[Tensor, " d_sae"]:
    """``W_dec @ x`` in float32 (chunked when ``W_dec`` is not float32, so it is never copied)."""
    x32 = x.to(W_dec.device, torch.float32)
    if W_dec.dtype == torch.float32:
        return W_dec @ x32
    out = torch.empty(W_dec.shape[0], dtype=torch.float32, device=W_dec.device)
    for lo in range(0, W_dec.shape[0], chunk_rows):
        out[lo : lo + chunk_rows] = W_dec[lo : lo + chunk_rows].float() @ x32
    return out


@torch.no_grad()
def decoder_matmul(
    W_dec: Float[Tensor, "d_sae d_in"],
    X: Float[Tensor, "d_in n"],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Float[Tensor, "d_sae n"]:
    """``W_dec @ X`` for a few columns at once, in float32 (one pass over the decoder)."""
    X32 = X.to(W_dec.device, torch.float32)
    if W_dec.dtype == torch.float32:
        return W_dec @ X32
    out = torch.empty(W_dec.shape[0], X.shape[1], dtype=torch.float32, device=W_dec.device)
    for lo in range(0, W_dec.shape[0], chunk_rows):
        out[lo : lo + chunk_rows] = W_dec[lo : lo + chunk_rows].float() @ X32
    return out


@torch.no_grad()
def decoder_norms(
    W_dec: Float[Tensor, "d_sae d_in"], *, chunk_rows: int = CHUNK_ROWS
) -> Float[Tensor, " d_sae"]:
    """L2 norm of every decoder row, in float32."""
    out = torch.empty(W_dec.shape[0], dtype=torch.float32, device=W_dec.device)
    for lo in range(0, W_dec.shape[0], chunk_rows):
        out[lo : lo + chunk_rows] = torch.linalg.vector_norm(
            W_dec[lo : lo + chunk_rows].float(), dim=1
        )
    return out


@torch.no_grad()
def decoder_rows(
    W_dec: Float[Tensor, "d_sae d_in"], indices: Int[Tensor, " n"] | list[int]
) -> Float[Tensor, "n d_in"]:
    """The given decoder rows as a float32 CPU tensor."""
    idx = torch.as_tensor(indices, dtype=torch.long, device=W_dec.device)
    return W_dec.index_select(0, idx).to("cpu", torch.float32)
