"""PyTorch side of epoch-one.mjs: what the first training steps of ResNet-18 cost in PyTorch itself, in
the order epoch-one.mjs trains them (plain fp32 first, which initialises CUDA and cuDNN; then
cudnn.benchmark; then bf16 autocast + channels_last, a new set of cuDNN timings), so a first-epoch cost
seen in kdtorch can be told apart from cuDNN's own. Usage: python epoch_one_reference.py JSON_ARGS
(device, size, batch, last: the epoch's odd last batch); prints one JSON line of milliseconds."""
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def main(a):
    device = torch.device(a["device"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(n, tuned):
        x = torch.randn(n, 3, a["size"], a["size"], device=device)
        y = torch.randint(0, 2, (n,), device=device)
        if tuned:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=tuned):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()

    def timed(n, tuned):
        sync()
        start = time.perf_counter()
        step(n, tuned)
        sync()
        return round((time.perf_counter() - start) * 1000, 1)

    rows = {}
    for name, benchmark, tuned in [("plain", False, False), ("cudnnBenchmark", True, False),
                                   ("cudnnBenchmark, bf16 + channels-last", True, True)]:
        torch.backends.cudnn.benchmark = benchmark
        if tuned:
            model = model.to(memory_format=torch.channels_last)
        rows[name] = {"batch 1": timed(a["batch"], tuned), "batch 2": timed(a["batch"], tuned),
                      "last batch": timed(a["last"], tuned), "last batch again": timed(a["last"], tuned)}
    print(json.dumps(rows))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
