"""A small GPT-style decoder (pre-LayerNorm, causal attention, tied or untied embeddings), nanoGPT-like.

Plain PyTorch: nothing in it knows about parametrizations. Width is ``d_model`` (the MLP is
``d_ff = ffn_mult * d_model``, ``n_head`` heads of ``d_model / n_head``); vocabulary, context and
depth are finite. Attention modules expose ``head_dim`` and ``scaling`` (default ``1/sqrt(head_dim)``)
so :func:`infwidth.anymodel.apply` can set muP's ``1/head_dim``. :func:`gpt_roles` finds the roles
from two shape-only (``meta`` device) instances at other widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from infwidth.errors import UserError, check_int


@dataclass(frozen=True)
class GPTConfig:
    """The decoder's sizes. ``d_model`` must be a multiple of ``n_head``."""

    vocab_size: int = 64
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    ffn_mult: int = 4
    tied: bool = False
    bias: bool = False

    def __post_init__(self) -> None:
        for what in ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "ffn_mult"):
            check_int(getattr(self, what), what)
        if self.d_model % self.n_head:
            raise UserError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}; pick d_model = n_head x head_dim")

    def with_width(self, d_model: int) -> GPTConfig:
        """The same model at another width."""
        return replace(self, d_model=d_model)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; logits ``q.k * scaling``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.d_model // cfg.n_head
        self.scaling = 1.0 / math.sqrt(self.head_dim)
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scaling)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class FeedForward(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, cfg.ffn_mult * cfg.d_model, bias=cfg.bias)
        self.act = nn.GELU()
        self.c_proj = nn.Linear(cfg.ffn_mult * cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    """Pre-LayerNorm residual block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = FeedForward(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token + position embeddings, ``n_layer`` blocks, final LayerNorm, readout ``lm_head`` (logits)."""

    def __init__(self, cfg: GPTConfig, device: Any = None) -> None:
        super().__init__()
        if not isinstance(cfg, GPTConfig):
            raise UserError(f"GPT needs a GPTConfig, got {type(cfg).__name__}")
        self.config = cfg
        with torch.device(device if device is not None else "cpu"):
            self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.wpe = nn.Embedding(cfg.block_size, cfg.d_model)
            self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
            self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tied:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, T, vocab)`` for token ids ``(batch, T)``, ``T <= block_size``."""
        T = idx.shape[1]
        if T > self.config.block_size:
            raise UserError(f"sequence length {T} exceeds block_size {self.config.block_size}; crop the input or raise block_size")
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def gpt_roles(cfg: GPTConfig, model: nn.Module | None = None) -> Any:
    """Roles of ``GPT(cfg)`` from two shape-only instances at ``d_model = n_head`` and ``2 n_head``."""
    from infwidth.anymodel.roles import find_roles

    base = GPT(cfg.with_width(cfg.n_head), device="meta")
    delta = GPT(cfg.with_width(2 * cfg.n_head), device="meta")
    return find_roles(GPT(cfg, device="meta") if model is None else model, base, delta)


def build_gpt(
    cfg: GPTConfig, parametrization: Any = "mup", *, seed: int = 0, device: Any = "cpu", **apply_kwargs: Any
) -> GPT:
    """``GPT(cfg)`` on ``device`` with ``parametrization`` applied (see :func:`infwidth.anymodel.apply`)."""
    from infwidth.anymodel.apply import apply

    model = GPT(cfg, device=device)
    apply(model, gpt_roles(cfg, model), parametrization, seed=seed, **apply_kwargs)
    return model
