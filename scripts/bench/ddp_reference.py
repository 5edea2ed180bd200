"""PyTorch side of `npm run bench -- ddp`: ResNet-18 teacher steps (SGD with momentum) in one process with
a["threads"] threads ("alone"), or on a["worldSize"] gloo ranks of one thread each under
DistributedDataParallel ("ddp"), each rank stepping on its share of the global batch; then, on the ranks,
the all-reduce of the gradients' bytes in DDP's 25 MB buckets timed by itself. Usage: python
ddp_reference.py alone|ddp JSON_ARGS; prints one JSON line {stepMs: [...], allReduceMs: [...]}."""
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

BUCKET_BYTES = 25 * 1024 * 1024


def steps(model, x, y, a):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    for i in range(a["warmUp"] + a["steps"]):
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= a["warmUp"]:
            times.append((time.perf_counter() - start) * 1e3)
    return times


def batch(a, rows):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(rows, 3, a["size"], a["size"], generator=g)
    return x, torch.arange(rows) % 2


def alone(a):
    torch.set_num_threads(a["threads"])
    x, y = batch(a, a["batch"])
    return {"stepMs": steps(torchvision.models.resnet18(num_classes=2).train(), x, y, a), "allReduceMs": []}


def rank_main(rank, a, results):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    world = a["worldSize"]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a['port']}", rank=rank, world_size=world)
    model = torchvision.models.resnet18(num_classes=2).train()
    x, y = batch(a, a["batch"] // world)
    step_ms = steps(DistributedDataParallel(model), x, y, a)
    # The gradients' bytes, in buckets as DDP's reducer makes them, all-reduced without the step around them.
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    buckets = flat.split(BUCKET_BYTES // 4)
    all_reduce_ms = []
    for i in range(a["warmUp"] + a["steps"]):
        dist.barrier()
        start = time.perf_counter()
        for bucket in buckets:
            dist.all_reduce(bucket)
        if i >= a["warmUp"]:
            all_reduce_ms.append((time.perf_counter() - start) * 1e3)
    if rank == 0:
        results.put({"stepMs": step_ms, "allReduceMs": all_reduce_ms})
    dist.destroy_process_group()


def ddp(a):
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    processes = [context.Process(target=rank_main, args=(r, a, results)) for r in range(a["worldSize"])]
    for p in processes:
        p.start()
    out = results.get()
    for p in processes:
        p.join()
    return out


if __name__ == "__main__":
    print(json.dumps({"alone": alone, "ddp": ddp}[sys.argv[1]](json.loads(sys.argv[2]))))
