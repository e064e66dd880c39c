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
from infwidth.parametrizations.classify import (
    Classification,
    Failure,
    adam_exponents,
    classify,
    layer_contribution_exponents,
    named_parametrizations,
    named_table,
    named_table_markdown,
    predicted_exponents,
    surviving_ntk_layers,
)

__all__ = [
    "PRESETS",
    "Classification",
    "Failure",
    "Parametrization",
    "adam_exponents",
    "classify",
    "from_exponents",
    "layer_contribution_exponents",
    "mfp",
    "mup",
    "named_parametrizations",
    "named_table",
    "named_table_markdown",
    "ntp",
    "predicted_exponents",
    "preset",
    "sp",
    "surviving_ntk_layers",
    "to_fraction",
    "up",
]
