"""Time GPT training steps with infwidth's parametrization vs plain PyTorch vs microsoft/mup, in one run;
and time the GPT coordinate check (4 widths x 3 seeds).

    python benchmarks/anymodel.py [--d-model 256] [--layers 4] [--steps 30] [--repeats 5] [--threads 1] [--coordcheck]

One training step = forward, cross-entropy, backward, Adam step on a (batch 16, block 64) batch of
the shipped Wikipedia characters. Variants (same GPT code, untied embeddings):

* ``plain``: ``GPT(cfg)`` with ``torch.optim.Adam(model.parameters())`` (PyTorch's default init);
* ``infwidth``: ``build_gpt(cfg, "mup")`` + ``make_optimizer(model, "adam", lr)`` (readout hook,
  1/d attention, one param group per distinct rate);
* ``mup``: microsoft/mup's documented setup on the same GPT: ``lm_head`` replaced by ``MuReadout``,
  attention scaling 1/head_dim set by hand, ``set_base_shapes(model, base, delta=delta)``, ``MuAdam``.

The variants run round-robin (``--repeats`` rounds of ``--steps`` steps each, after warm-up steps)
so machine noise hits them alike; we report the median seconds per step and the ratio to plain.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch


def make_variants(cfg, lr: float) -> dict:
    from infwidth.anymodel import GPT, build_gpt, make_optimizer

    out = {}
    plain = GPT(cfg)
    out["plain"] = (plain, torch.optim.Adam(plain.parameters(), lr=lr))
    ours = build_gpt(cfg, "mup", seed=0)
    out["infwidth"] = (ours, make_optimizer(ours, "adam", lr))
    try:
        from mup import MuAdam, MuReadout, set_base_shapes
    except ImportError:
        print("mup not importable: skipping the microsoft/mup variant")
        return out

    class MupGPT(GPT):
        def __init__(self, c) -> None:
            super().__init__(c)
            self.lm_head = MuReadout(c.d_model, c.vocab_size, bias=False)
            for block in self.blocks:
                block.attn.scaling = 1.0 / block.attn.head_dim

    theirs = MupGPT(cfg)
    set_base_shapes(theirs, MupGPT(cfg.with_width(cfg.n_head * 16)), delta=MupGPT(cfg.with_width(cfg.n_head * 32)))
    out["mup"] = (theirs, MuAdam(theirs.parameters(), lr=lr))
    return out


def step_time(model, opt, batches, steps: int) -> float:
    start = time.perf_counter()
    for x, y in batches[:steps]:
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--coordcheck", action="store_true", help="also time the GPT coordinate check (4 widths x 3 seeds)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from infwidth.anymodel import GPTConfig
    from infwidth.anymodel.train import VOCAB, batches, char_corpus

    cfg = GPTConfig(vocab_size=len(VOCAB), block_size=64, n_layer=args.layers, n_head=4, d_model=args.d_model)
    gen = torch.Generator().manual_seed(0)
    data = [batches(char_corpus(200_000), 16, 64, gen) for _ in range(args.steps)]
    variants = make_variants(cfg, 1e-3)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for model, opt in variants.values():
        step_time(model, opt, data, 3)  # warm-up
    for _ in range(args.repeats):
        for name, (model, opt) in variants.items():
            times[name].append(step_time(model, opt, data, args.steps))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    print(f"GPT d_model {cfg.d_model}, {cfg.n_layer} layers, {cfg.n_head} heads, batch 16 x 64 tokens, Adam; "
          f"median of {args.repeats} rounds of {args.steps} steps")
    base = statistics.median(times["plain"])
    print(f"{'variant':<10} {'s/step':>8} {'vs plain':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<10} {med:>8.4f} {med / base:>9.3f}")
    if args.coordcheck:
        from infwidth.anymodel.coordcheck import GPTCoordCheckConfig, gpt_coordcheck

        for preset in ("mup", "sp"):
            start = time.perf_counter()
            d = gpt_coordcheck(GPTCoordCheckConfig(preset=preset, widths=(64, 128, 256, 512), steps=3, seeds=3)).as_dict()
            print(f"coordcheck gpt {preset}: widths 64..512, 3 seeds, 3 steps: {time.perf_counter() - start:.1f} s wall, "
                  f"passed {d['passed']}, as predicted {d['as_predicted']}")


if __name__ == "__main__":
    main()
