"""DistributedDataParallel: two CPU processes on gloo give the weights of one process on the global batch.

Slow-marked: two fresh interpreters importing torch take most of a minute on a shared 2-CPU machine.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed as dist

from infwidth.anymodel import GPTConfig, build_gpt, make_optimizer

CFG = dict(vocab_size=27, block_size=8, n_layer=1, n_head=2, d_model=16)
STEPS, BATCH, LR = 3, 8, 1e-2

WORKER = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from infwidth.anymodel import GPTConfig, build_gpt, make_optimizer
    rank, store, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
    model = build_gpt(GPTConfig(**{cfg}), "mup", seed=0).double()
    ddp = DDP(model)
    opt = make_optimizer(ddp, "adam", {lr})
    gen = torch.Generator().manual_seed(0)
    for _ in range({steps}):
        x = torch.randint(0, 27, ({batch}, 8), generator=gen)
        y = torch.randint(0, 27, ({batch}, 8), generator=gen)
        half = slice(rank * {batch} // 2, (rank + 1) * {batch} // 2)
        loss = torch.nn.functional.cross_entropy(ddp(x[half]).flatten(0, 1), y[half].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    if rank == 0:
        torch.save(model.state_dict(), out)
    dist.destroy_process_group()
    """
).format(cfg=CFG, lr=LR, steps=STEPS, batch=BATCH)


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo not available")
def test_two_process_ddp_equals_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(r), str(tmp_path / "store"), str(out)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    ddp_state = torch.load(out)

    model = build_gpt(GPTConfig(**CFG), "mup", seed=0).double()
    opt = make_optimizer(model, "adam", LR)
    gen = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        x = torch.randint(0, 27, (BATCH, 8), generator=gen)
        y = torch.randint(0, 27, (BATCH, 8), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    one = model.state_dict()
    for k, v in one.items():
        if isinstance(v, torch.Tensor):
            torch.testing.assert_close(ddp_state[k], v, rtol=1e-9, atol=1e-12)
    assert ddp_state["infwidth._extra_state"] == one["infwidth._extra_state"]
    moved = (one["blocks.0.attn.c_attn.weight"] - build_gpt(GPTConfig(**CFG), "mup", seed=0).double().state_dict()["blocks.0.attn.c_attn.weight"]).abs().max()
    assert moved > 0  # training did something
