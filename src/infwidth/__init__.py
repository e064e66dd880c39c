"""infwidth: feature learning in infinite-width neural networks (Yang & Hu, Tensor Programs IV).

One description of a network gives every view::

    import infwidth as iw
    p = iw.preset("mup", depth=2)   # an abc-parametrization
    p.classify()                    # stable? nontrivial? feature learning or kernel regime?
    net = p.mlp(width=1024, d_in=10, d_out=1)   # the finite PyTorch network
    p.feature_learning_limit(d_in=10, d_out=1, nonlinearity="tanh")  # its infinite-width limit
    iw.ntp(2).kernel_limit(d_in=10)             # a kernel-regime one's NTK limit

Heavy pieces (torch) load on first use, so ``import infwidth`` stays fast.
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
    register_view,
    sp,
    to_fraction,
    up,
)

# The views of a Parametrization plug in from above (the core names none of them); loaded on first use.
register_view("mlp", "infwidth.networks.mlp:AbcMLP")
register_view("kernel_limit", "infwidth.limits.kernels.regime:regime_kernel_fn")
register_view("feature_learning_limit", "infwidth.limits.feature_learning.bridge:mup_limit")

# name -> module, loaded on first attribute access (PEP 562)
_LAZY = {
    "Classification": "infwidth.parametrizations.classify",
    "classify": "infwidth.parametrizations.classify",
    "predicted_exponents": "infwidth.parametrizations.predict",
    "AbcMLP": "infwidth.networks",
    "PracticalMLP": "infwidth.networks",
    "run_coordcheck": "infwidth.coordcheck",
    "CoordCheckConfig": "infwidth.coordcheck",
    "mlp_kernels": "infwidth.limits.kernels",
    "KernelSGD": "infwidth.limits.kernels",
    "mse_closed_form": "infwidth.limits.kernels",
    "LinearMupLimit": "infwidth.limits.feature_learning",
    "MeanFieldLimit": "infwidth.limits.feature_learning",
    "DeepLinearMupLimit": "infwidth.limits.feature_learning",
}


def __getattr__(name: str):  # noqa: ANN202 - module-level lazy import
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'infwidth' has no attribute {name!r}")


__all__ = [*_LAZY,
    "Parametrization",
    "UserError",
    "__version__",
    "from_exponents",
    "mfp",
    "mup",
    "ntp",
    "preset",
    "register_view",
    "sp",
    "to_fraction",
    "up",
]
