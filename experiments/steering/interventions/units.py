"""Units of the steering strength α (light: no torch import, so configs and ``--help`` stay fast).

* ``unit``: α × the unit vector, so every direction is added at the same norm α (matched norm);
* ``mean_resid_norm``: α × the direction's ``mean_resid_norm`` × the unit vector, i.e. α in
  multiples of the typical residual-stream norm at the hook (also norm-matched across directions
  of one model and hook);
* ``raw``: α × the vector as stored (its own norm; baselines are then *not* norm-matched).
"""

from __future__ import annotations

from typing import Literal

AlphaUnit = Literal["unit", "mean_resid_norm", "raw"]
"""How α is measured (see the module docstring); recorded in every result."""
