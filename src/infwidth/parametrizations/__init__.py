"""abc-parametrizations: the object (:mod:`.abc`), its exact classification (:mod:`.classify`), the
exponents a finite network shows (:mod:`.predict`) and the paper's table of named ones (:mod:`.report`)."""

from infwidth.parametrizations.abc import (
    PRESETS,
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
from infwidth.parametrizations.classify import (
    Classification,
    Failure,
    adam_exponents,
    classify,
    surviving_ntk_layers,
)
from infwidth.parametrizations.predict import layer_contribution_exponents, predicted_exponents
from infwidth.parametrizations.report import (
    named_parametrizations,
    named_table,
    named_table_markdown,
)

# ``Parametrization.classify()`` resolves through the view registry, so abc.py never imports its
# classifier back (the classifier reads the Parametrization type).
register_view("classify", classify)

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
