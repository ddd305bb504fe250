"""The batched backend: every problem of a layer solved together with L-BFGS in torch (CPU or GPU).

The objectives are independent, so their sum is minimised exactly where each one is; each is
divided by ``C_p Σ_i S[p, i]`` first (a mean weighted log-loss plus ``‖w‖² / (2 C_p Σ S_p)``),
which has the same minimiser as sklearn's and keeps the problems on one scale. Tested to match
sklearn's test AUROC within 0.01 on the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from activation_store.models.device import resolve_device
from probes.fitting import Fitted, Problems


@dataclass(frozen=True)
class TorchFitter:
    device: str = "cpu"
    max_iter: int = 500
    """L-BFGS iterations at most (each evaluates all problems once or more)."""
    tolerance_grad: float = 1e-6

    def __call__(self, problems: Problems) -> Fitted:
        dev = resolve_device(self.device)
        X_ND = torch.as_tensor(problems.X, dtype=torch.float32, device=dev)
        Y_PN = torch.as_tensor(problems.Y, dtype=torch.float32, device=dev)
        S_PN = torch.as_tensor(problems.S, dtype=torch.float32, device=dev)
        total_P = S_PN.sum(dim=1).clamp_min(1e-12)
        Sn_PN = S_PN / total_P[:, None]
        lam_P = 1.0 / (torch.as_tensor(problems.Cs, dtype=torch.float32, device=dev) * total_P)
        P, d = Y_PN.shape[0], X_ND.shape[1]
        W_PD = torch.zeros(P, d, device=dev, requires_grad=True)
        b_P = torch.zeros(P, device=dev, requires_grad=True)
        opt = torch.optim.LBFGS(
            [W_PD, b_P],
            lr=1.0,
            max_iter=self.max_iter,
            tolerance_grad=self.tolerance_grad,
            tolerance_change=1e-12,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits_PN = W_PD @ X_ND.T + b_P[:, None]
            loss = F.binary_cross_entropy_with_logits(logits_PN, Y_PN, reduction="none")
            objective = (Sn_PN * loss).sum() + 0.5 * (lam_P * W_PD.square().sum(dim=1)).sum()
            objective.backward()
            return objective

        opt.step(closure)
        return Fitted(
            coef=W_PD.detach().double().cpu().numpy(),
            intercept=b_P.detach().double().cpu().numpy(),
        )
