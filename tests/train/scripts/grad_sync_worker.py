"""One rank of a gloo process group comparing the graph step's gradient sync with DDP (a test driver).

usage (with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set): grad_sync_worker.py MODE OUT_DIR
    unit  a small MLP with BatchNorm: `GradientSync` against DDP, 3 SGD steps (CPU)
    step  tiny Tacotron: `GraphedStep(capture=False)` + `GradientSync` against `EagerStep` + DDP (CPU)
    cuda  tiny Tacotron: `GraphedStep` with captured graphs + `GradientSync`, every rank on cuda:0;
          rank 0 also trains one process on all ranks' micro-batches (the reference)
Saves what the test compares to OUT_DIR/rank{RANK}.pt. Every rank builds its model from its own seed:
the sync (like DDP) must start every rank from rank 0's parameters.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from tests.helpers.batches import random_batch  # noqa: E402
from tests.helpers.configs import variant_config  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from tacotron.losses import LossNorm, Tacotron2Loss  # noqa: E402
from tacotron.model import build_model  # noqa: E402
from tacotron.train.distributed import DistInfo, all_sum  # noqa: E402
from tacotron.train.grad_sync import GradientSync  # noqa: E402
from tacotron.train.graphs import pad_to_bucket  # noqa: E402
from tacotron.train.precision import Precision  # noqa: E402
from tacotron.train.step import EagerStep, GraphedStep, global_norm  # noqa: E402

STEPS, MICRO, LR, N_MELS, N_SYMBOLS, R = 3, 2, 0.05, 80, 24, 2
# rank 0 and rank 1 batches differ in size and lengths, all in one bucket (text 16, mel 32): the
# global loss normaliser must weigh them right, and bucket padding changes nothing
LENGTHS = {0: ([9, 4, 7], [30, 17, 25]), 1: ([12, 5], [28, 20])}

torch.set_num_threads(1)


def state(model: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    return {
        "params": {k: v.detach().cpu().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.detach().cpu().clone() for k, v in model.named_buffers()},
    }


# ---- unit: GradientSync against DDP on a small model -------------------------------------------------
def mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )


def mlp_data(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(100 * step + rank)
    n = 4 + 2 * rank
    return torch.randn(n, 6, generator=gen), torch.randn(n, 3, generator=gen)


def unit(info: DistInfo) -> dict:
    synced, wrapped = mlp(info.rank), mlp(info.rank)
    sync = GradientSync(synced, info)
    initial = state(synced)
    ddp = DistributedDataParallel(wrapped)
    opt_sync = torch.optim.SGD(synced.parameters(), lr=LR)
    opt_ddp = torch.optim.SGD(wrapped.parameters(), lr=LR)
    grads_sync, grads_ddp = [], []
    for step in range(STEPS):
        x, y = mlp_data(step, info.rank)
        count = all_sum(torch.tensor(float(y.numel())), info)  # the global normaliser
        sync.broadcast_buffers()  # where GraphedStep calls it: before the step's first forward
        ((synced(x) - y) ** 2).sum().div(count).backward()
        sync.all_reduce()
        # EagerStep's way: world_size x loss, averaged by DDP
        (((ddp(x) - y) ** 2).sum().div(count) * info.world_size).backward()
        grads_sync.append([p.grad.clone() for p in synced.parameters()])
        grads_ddp.append([p.grad.clone() for p in wrapped.parameters()])
        for opt in (opt_sync, opt_ddp):
            opt.step()
            opt.zero_grad(set_to_none=False)
    grad_is_view = all(p.grad is v for b in sync.buckets for p, v in zip(b.params, b.views, strict=True))
    synced[0].weight.grad = None  # what optimizer.zero_grad() does by default
    try:
        sync.all_reduce()
        refused = ""
    except RuntimeError as error:  # the test asserts on the message
        refused = str(error)
    return {
        "refused": refused,
        "initial": initial,
        "sync": state(synced),
        "ddp": state(wrapped),
        "grads_sync": grads_sync,
        "grads_ddp": grads_ddp,
        "buckets": len(sync.buckets),
        "grad_is_view": grad_is_view,
    }


# ---- step / cuda: the runners on tiny Tacotron --------------------------------------------------------
def tacotron(seed: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = variant_config("plain")
    cfg.model.n_frames_per_step = R
    return build_model(cfg.model, N_SYMBOLS, N_MELS).to(device).train()


def micro_batches(step: int, rank: int) -> list:
    """This rank's micro-batches of `step`, already at their bucket shape (padding is then a no-op)."""
    texts, mels = LENGTHS[rank]
    return [
        pad_to_bucket(
            random_batch(texts, mels, R, N_MELS, seed=1000 * step + 10 * rank + i),
            text_multiple=16,
            mel_multiple=16,
        )
        for i in range(MICRO)
    ]


def train(runner, model, device, info: DistInfo, ranks: list[int]) -> tuple[list[float], dict]:
    """STEPS optimizer steps on the micro-batches of `ranks`: Trainer._train_step's order, SGD."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for step in range(STEPS):
        micro = [b for rank in ranks for b in micro_batches(step, rank)]
        norm = global_norm(LossNorm.from_batches(micro), info, device)
        outputs = runner.run(micro, norm, step, None)
        optimizer.step()
        runner.zero_grad(optimizer)
        losses.append(float(outputs.totals["loss"]))
    return losses, state(model)


def graphed(model, device: torch.device, sync: GradientSync | None, *, capture: bool) -> GraphedStep:
    loss_fn = Tacotron2Loss(variant_config("plain").loss).to(device)
    precision = Precision("fp32", device)
    return GraphedStep(
        model, loss_fn, precision, device, text_multiple=16, mel_multiple=16, sync=sync, capture=capture
    )


def step(info: DistInfo) -> dict:
    device = torch.device("cpu")
    model = tacotron(info.rank, device)
    graph_losses, graph_state = train(
        graphed(model, device, GradientSync(model, info), capture=False), model, device, info, [info.rank]
    )
    wrapped = tacotron(info.rank, device)
    eager = EagerStep(
        wrapped,
        Tacotron2Loss(variant_config("plain").loss),
        Precision("fp32", device),
        device,
        ddp=DistributedDataParallel(wrapped),
        world_size=info.world_size,
    )
    eager_losses, eager_state = train(eager, wrapped, device, info, [info.rank])
    return {
        "graph_losses": graph_losses,
        "graph": graph_state,
        "eager_losses": eager_losses,
        "eager": eager_state,
        "initial": state(tacotron(0, device)),
    }


def cuda(info: DistInfo) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda", 0)
    torch.cuda.set_device(device)
    model = tacotron(info.rank, device)
    runner = graphed(model, device, GradientSync(model, info), capture=True)
    losses, end = train(runner, model, device, info, [info.rank])
    result = {"losses": losses, "ddp": end, "graphs": len(runner._graphed.graphs)}
    if info.is_main:  # one process accumulating every rank's micro-batches, from rank 0's start
        single = tacotron(0, device)
        alone = DistInfo()
        result["single_losses"], result["single"] = train(
            graphed(single, device, None, capture=True), single, device, alone, list(LENGTHS)
        )
        result["initial"] = state(tacotron(0, device))
    return result


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    info = DistInfo(rank=rank, world_size=int(os.environ["WORLD_SIZE"]), local_rank=rank)
    dist.init_process_group("gloo", rank=info.rank, world_size=info.world_size)
    try:
        result = {"unit": unit, "step": step, "cuda": cuda}[mode](info)
    finally:
        dist.destroy_process_group()
    torch.save(result, out / f"rank{info.rank}.pt")


if __name__ == "__main__":
    main()
