"""muP and any abc-parametrization for any PyTorch model.

:func:`find_roles` (which dims are width, which tensor is input/hidden/output/vector/tied, attention)
-> :func:`apply` (init, readout multiplier, attention scaling, rate factors; travels in state_dict)
-> :func:`param_groups` / :func:`make_optimizer` (ordinary torch optimizers) and
:func:`classify_model` (the exact classification on the role structure). Reference models: the GPT
(:mod:`.gpt`, trained by :mod:`.train`) and the MLP (:mod:`.mlp`). The model coordinate check is
:mod:`.coordcheck`.
"""

from infwidth.anymodel.apply import (
    apply,
    attention_exponent,
    load_state_dict,
    make_optimizer,
    model_parametrization,
    param_groups,
    parametrization_of,
    record_of,
    roles_of,
    tensor_rules,
)
from infwidth.anymodel.gpt import GPT, GPTConfig, build_gpt, gpt_roles
from infwidth.anymodel.roles import ROLES, AttentionRole, Roles, TensorRole, find_roles

__all__ = [
    "GPT",
    "ROLES",
    "AttentionRole",
    "GPTConfig",
    "Roles",
    "TensorRole",
    "apply",
    "attention_exponent",
    "build_gpt",
    "find_roles",
    "gpt_roles",
    "load_state_dict",
    "make_optimizer",
    "model_parametrization",
    "param_groups",
    "parametrization_of",
    "record_of",
    "roles_of",
    "tensor_rules",
]
