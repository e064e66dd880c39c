"""abc-parametrizations: the object (:mod:`.abc`) and its exact classification (:mod:`.classify`)."""

from infwidth.parametrizations.abc import (
    PRESETS,
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
    "PRESETS",
    "Parametrization",
    "from_exponents",
    "mfp",
    "mup",
    "ntp",
    "preset",
    "sp",
    "to_fraction",
    "up",
]
