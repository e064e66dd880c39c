"""infwidth: feature learning in infinite-width neural networks (Yang & Hu, Tensor Programs IV).

One description of a network gives every view::

    import infwidth as iw
    p = iw.preset("mup", depth=2)   # an abc-parametrization
    p.classify()                    # stable? nontrivial? feature learning or kernel regime?
    net = p.mlp(width=1024, d_in=10, d_out=1)   # the finite PyTorch network
"""

from __future__ import annotations

__version__ = "0.1.0"

from infwidth.errors import UserError
from infwidth.parametrizations.abc import (
    Parametrization,
    from_exponents,
    mfp,
    mup,
    ntp,
    preset,
    sp,
    to_fraction,
    up,
)

__all__ = [
    "Parametrization",
    "UserError",
    "__version__",
    "from_exponents",
    "mfp",
    "mup",
    "ntp",
    "preset",
    "sp",
    "to_fraction",
    "up",
]
