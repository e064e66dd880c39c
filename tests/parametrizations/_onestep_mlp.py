"""A tiny independent abc-MLP in torch (float64) for checking predicted exponents by measurement."""

from __future__ import annotations

import math

import torch

from infwidth.parametrizations import Parametrization


def one_step_sizes(
    p: Parametrization,
    width: int,
    *,
    seed: int,
    phi: str = "relu",
    lr: float = 0.5,
    d: int = 8,
    batch: int = 4,
    optimizer: str = "sgd",
    adam_c=None,
    train_only: int | None = None,
) -> dict[str, float]:
    """RMS coordinate sizes at init and of the change after one step (linear loss sum(f))."""
    # the same inputs at every width (their own generator), so only the weights change with n
    xi = torch.randn(batch, d, generator=torch.Generator().manual_seed(10_000 + seed), dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    n, L = width, p.depth
    act = torch.relu if phi == "relu" else torch.tanh
    fan = [d] + [n] * L
    outs = [n] * L + [1]
    w = []
    for i in range(L + 1):
        std = p.sigma[i] * n ** (-float(p.b[i]))
        w.append((torch.randn(outs[i], fan[i], generator=g, dtype=torch.float64) * std).requires_grad_())
    mult = [n ** (-float(x)) for x in p.a]

    def forward(ws):
        hs, xs = [], []
        x = xi
        for i in range(L):
            h = x @ (mult[i] * ws[i]).T
            x = act(h)
            hs.append(h)
            xs.append(x)
        return hs, xs, x @ (mult[L] * ws[L]).T

    hs0, xs0, f0 = forward(w)
    loss = f0.sum()  # loss derivative chi = 1: Theta(1) and free of the noise of f_0
    grads = torch.autograd.grad(loss, w)
    new = []
    for i, (wi, gi) in enumerate(zip(w, grads, strict=True)):
        if train_only is not None and i + 1 != train_only:
            new.append(wi.detach())
            continue
        if optimizer == "sgd":
            step = lr * n ** (-float(p.c)) * gi
        else:  # first Adam step with bias correction = lr * sign(g) (eps negligible)
            step = lr * n ** (-float(adam_c[i])) * torch.sign(gi)
        new.append((wi - step).detach())
    with torch.no_grad():
        hs1, xs1, f1 = forward(new)

    def rms(t):
        return math.sqrt(float((t.detach() ** 2).mean()))

    out = {"f": rms(f0), "df": rms(f1 - f0)}
    for i in range(L):
        out[f"h{i + 1}"] = rms(hs0[i])
        out[f"x{i + 1}"] = rms(xs0[i])
        out[f"dh{i + 1}"] = rms(hs1[i] - hs0[i])
        out[f"dx{i + 1}"] = rms(xs1[i] - xs0[i])
    return out


def measured_slopes(p, widths=(256, 512, 1024, 2048, 4096), seeds=(0, 1, 2), **kw) -> dict[str, float]:
    """Least-squares slope of log(mean size over seeds) against log(width), per key."""
    logs: dict[str, list[float]] = {}
    for n in widths:
        sizes = [one_step_sizes(p, n, seed=s, **kw) for s in seeds]
        for k in sizes[0]:
            mean = sum(z[k] for z in sizes) / len(sizes)
            logs.setdefault(k, []).append(math.log(mean) if mean > 0 else math.nan)
    xs = [math.log(n) for n in widths]
    mx = sum(xs) / len(xs)
    out = {}
    for k, ys in logs.items():
        if any(math.isnan(v) for v in ys):  # exactly zero (e.g. a frozen layer): no slope
            continue
        my = sum(ys) / len(ys)
        out[k] = sum((x - mx) * (yv - my) for x, yv in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return out


def _main() -> None:  # pragma: no cover - prints the table quoted in docs/classification.md
    """Predicted vs measured one-step exponents for the named parametrizations (markdown)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from infwidth.parametrizations import adam_exponents, mfp, mup, ntp, predicted_exponents, sp, up

    widths = (256, 512, 1024, 2048, 4096)
    cases = [
        ("muP L=2", mup(2), "relu", "sgd", None),
        ("NTP L=2", ntp(2), "relu", "sgd", None),
        ("UP_1/4 L=2", up("1/4", 2), "relu", "sgd", None),
        ("MFP L=1", mfp(1), "relu", "sgd", None),
        ("SP c=1 L=1", sp(1, c=1), "relu", "sgd", None),
        ("SP c=1 L=2", sp(2, c=1), "relu", "sgd", None),
        ("SP c=0 L=1", sp(1), "relu", "sgd", None),
        ("SP c=0 L=2", sp(2), "relu", "sgd", None),
        ("SP c=0 L=2", sp(2), "tanh", "sgd", None),
        ("SP c=0 L=3", sp(3), "relu", "sgd", None),
        ("muP L=2, Adam", mup(2), "relu", "adam", adam_exponents(mup(2))),
        ("SP L=2, Adam 1/n", sp(2), "relu", "adam", (1, 1, 1)),
    ]
    print(f"widths {widths}, seeds 0,1,2, float64, batch 4, d 8, loss sum(f); predicted / measured\n")
    for label, p, phi, opt, rates in cases:
        pe = predicted_exponents(p, opt, rates, phi=phi)
        m = measured_slopes(p, widths=widths, seeds=(0, 1, 2), phi=phi, optimizer=opt, adam_c=rates,
                            lr=0.5 if opt == "sgd" else 0.05)
        keys = [k for k in pe if k.startswith("dx")] + ["df"]
        cells = ", ".join(f"{k} {pe[k]} / {m[k]:+.2f}" for k in keys)
        print(f"| {label} | {phi} | {cells} |")


if __name__ == "__main__":  # pragma: no cover
    _main()
