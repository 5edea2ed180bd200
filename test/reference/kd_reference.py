"""PyTorch reference for kdtorch's equivalence tests: the article's StudentNet, torchvision's
ResNet-18, the distillation loss written the textbook way, and one training step, run on the
same weights and inputs as kdtorch. Usage: python kd_reference.py COMMAND JSON_ARGS.
Prints one JSON line."""
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file


class StudentNet(nn.Module):
    """The article's student, with its input size, channels and width made parameters."""

    def __init__(self, num_classes=2, input_size=224, in_channels=3, width=4):
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc = nn.Linear(width * (input_size // 2) ** 2, num_classes)

    def forward(self, x):
        out = self.layer1(x)
        out = out.reshape(out.size(0), -1)  # the article's .view(), which a channels_last tensor refuses
        return self.fc(out)


def build(spec):
    if spec["arch"] == "resnet18":
        return torchvision.models.resnet18(num_classes=spec.get("numClasses", 2))
    return StudentNet(spec.get("numClasses", 2), spec.get("inputSize", 224), spec.get("inChannels", 3), spec.get("width", 4))


def load(spec, path):
    model = build(spec)
    model.load_state_dict(load_file(path))
    return model


def read_bin(path, shape, dtype):
    return torch.from_numpy(np.fromfile(path, dtype=dtype).reshape(shape).copy())


def cross_entropy(s, y, loss):
    weight = torch.tensor(loss["classWeights"], dtype=s.dtype) if loss.get("classWeights") else None
    return F.cross_entropy(s, y, weight=weight, label_smoothing=loss.get("labelSmoothing", 0.0))


def reference_loss(s, t, y, loss):
    """(1-a) CE + a KD, as a PyTorch user writes it; autograd gives the gradient."""
    alpha, T = loss["alpha"], loss["temperature"]
    ce = cross_entropy(s, y, loss)
    log_ps, pt = F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1)
    if loss["mode"] == "article":
        kd = nn.KLDivLoss()(log_ps, pt)  # the article: reduction 'mean', no T^2
    else:
        kd = F.kl_div(log_ps, pt, reduction="batchmean") * T * T
    return (1 - alpha) * ce + alpha * kd, ce, kd


def make_weights(a):
    """Seeded weights; BatchNorm running statistics randomised so eval mode differs from train mode."""
    torch.manual_seed(a["seed"])
    model = build(a)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
            elif name.endswith("num_batches_tracked"):
                buf.fill_(7)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, a["safetensors"])
    if a.get("pth"):
        torch.save(model.state_dict(), a["pth"])
    return {"parameters": sum(p.numel() for p in model.parameters()), "keys": list(model.state_dict().keys())}


def make_batch(a):
    g = torch.Generator().manual_seed(a["seed"])
    x = torch.randn(a["shape"], generator=g)
    y = torch.randint(0, a.get("numClasses", 2), (a["shape"][0],), generator=g, dtype=torch.int32)
    x.numpy().tofile(a["images"])
    y.numpy().tofile(a["labels"])
    return {}


def forward(a):
    model = load(a, a["weights"])
    model.train(a.get("train", False))
    x = read_bin(a["images"], a["shape"], np.float32)
    if a.get("channelsLast"):
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.get("autocast") == "bf16"):
        return {"logits": model(x).float().flatten().tolist()}


def classify(a):
    """A trained model file used as a PyTorch user would: uint8 HWC pixels → ToTensor + Normalize → softmax."""
    model = load(a, a["weights"]).eval()
    n, h, w, c = a["shape"]
    pixels = read_bin(a["pixels"], a["shape"], np.uint8)
    x = pixels.permute(0, 3, 1, 2).contiguous().float() / 255
    x = (x - torch.tensor(a["mean"]).view(1, c, 1, 1)) / torch.tensor(a["std"]).view(1, c, 1, 1)
    with torch.no_grad():
        return {"probabilities": F.softmax(model(x), dim=1).flatten().tolist()}


def optimizer_for(params, o):
    if o["name"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o.get("momentum", 0), nesterov=o.get("nesterov", False),
                               weight_decay=o.get("weightDecay", 0))
    cls = torch.optim.Adam if o["name"] == "adam" else torch.optim.AdamW
    return cls(params, lr=o["lr"], betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)), eps=o.get("eps", 1e-8),
               weight_decay=o.get("weightDecay", 0 if o["name"] == "adam" else 1e-2), foreach=False)


def step(a):
    model = load(a["model"], a["model"]["weights"])
    teacher = load(a["teacher"], a["teacher"]["weights"]) if a.get("teacher") else None
    if a.get("freeze") == "backbone":
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("fc.")
    opt = optimizer_for([p for p in model.parameters() if p.requires_grad], a["optimizer"])
    x = read_bin(a["images"], a["shape"], np.float32)
    y = read_bin(a["labels"], [a["shape"][0]], np.int32).long()
    if a.get("channelsLast"):
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    # Per-sample sums over every step's training forward, as Trainer.takeMetrics() reports them.
    loss_sum, correct = 0.0, 0
    for _ in range(a.get("steps", 1)):
        model.train()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.get("autocast") == "bf16"):
            s = model(x).float()
        if teacher is not None:
            teacher.eval()
            t_spec = a["teacher"]
            xt = x
            if t_spec.get("channelsLast"):
                teacher, xt = teacher.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=t_spec.get("autocast") == "bf16"):
                t = teacher(xt).float()
            loss, _, _ = reference_loss(s, t, y, a["loss"])
        else:
            loss = cross_entropy(s, y, a["loss"])
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(y)
        correct += int((s.argmax(1) == y).sum())
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, a["out"])
    return {"loss": loss.item(), "lossSum": loss_sum, "correct": correct, "count": a.get("steps", 1) * len(y)}


def ddp_rank(rank, a):
    """One of a["worldSize"] gloo ranks: DistributedDataParallel (its defaults) over this rank's rows of the
    global batch, a["steps"] steps; saves the module's state_dict to a["out"] with RANK replaced by the rank
    (the buffers differ between ranks: each rank's last forward updates its own BatchNorm statistics)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    world = a["worldSize"]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a['port']}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = load(a["model"], a["model"]["weights"])
    teacher = load(a["teacher"], a["teacher"]["weights"]).eval() if a.get("teacher") else None
    ddp = DistributedDataParallel(model)
    opt = optimizer_for(list(model.parameters()), a["optimizer"])
    x = read_bin(a["images"], a["shape"], np.float32)
    y = read_bin(a["labels"], [a["shape"][0]], np.int32).long()
    per_rank = a["shape"][0] // world
    x, y = x[rank * per_rank:(rank + 1) * per_rank], y[rank * per_rank:(rank + 1) * per_rank]
    for _ in range(a["steps"]):
        ddp.train()
        opt.zero_grad()
        s = ddp(x)
        if teacher is not None:
            with torch.no_grad():
                t = teacher(x)
            loss, _, _ = reference_loss(s, t, y, a["loss"])
        else:
            loss = cross_entropy(s, y, a["loss"])
        loss.backward()
        opt.step()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, a["out"].replace("RANK", str(rank)))
    dist.destroy_process_group()


def ddp_steps(a):
    """PyTorch's own data-parallel training, to hold kdtorch's process groups to: a["worldSize"] processes."""
    import torch.multiprocessing as mp

    mp.spawn(ddp_rank, args=(a,), nprocs=a["worldSize"], join=True)
    return {}


def compare(a):
    x, y = load_file(a["a"]), load_file(a["b"])
    if set(x) != set(y):
        return {"sameKeys": False, "onlyA": sorted(set(x) - set(y)), "onlyB": sorted(set(y) - set(x))}
    diffs = {k: (x[k].double() - y[k].double()).abs().max().item() if x[k].numel() else 0.0 for k in x}
    return {"sameKeys": True, "maxAbsDiff": max(diffs.values()), "perKey": diffs}


def cpu(a):
    """What PyTorch reads of this CPU: the flags kdtorch's info().cpu reports."""
    flags = torch._C._cpu._get_cpu_capability()
    return {"avx512Bf16": bool(flags["avx512_bf16"]), "amxBf16": bool(flags["amx_bf16"]),
            "onednn": torch.backends.mkldnn.is_available(), "name": flags["cpu_name"]}


def stats(a):
    """Mean and standard deviation of some tensors of a weights file."""
    tensors = load_file(a["weights"])
    return {k: {"mean": tensors[k].double().mean().item(), "std": tensors[k].double().std().item()} for k in a["keys"]}


def schedule(a):
    """Learning rates PyTorch's schedulers give over a["steps"] steps."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=a["lr"])
    s = a["schedule"]
    lr = torch.optim.lr_scheduler
    if s["name"] == "step":
        sched = lr.StepLR(opt, step_size=s["stepSize"], gamma=s["gamma"])
    elif s["name"] == "cosine":
        sched = lr.CosineAnnealingLR(opt, T_max=s["totalSteps"], eta_min=s.get("lrMin", 0))
    else:
        after = s["after"]
        warm = lr.LinearLR(opt, start_factor=s["startFactor"], end_factor=1.0, total_iters=s["warmupSteps"])
        cos = lr.CosineAnnealingLR(opt, T_max=after["totalSteps"], eta_min=after.get("lrMin", 0))
        sched = lr.SequentialLR(opt, [warm, cos], milestones=[s["warmupSteps"]])
    lrs = []
    for _ in range(a["steps"]):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"lrs": lrs}


def onnx_check(a):
    """An ONNX file kdtorch exported, checked by onnx and run by onnxruntime; and the same weights in the
    PyTorch module exported by torch.onnx.export (its default exporter) and run the same way."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(a["onnx"]), full_check=True)
    x = read_bin(a["images"], a["shape"], np.uint8 if a["input"] == "uint8" else np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    ours = ort.InferenceSession(a["onnx"], options, providers=["CPUExecutionProvider"])
    ours_out = ours.run(["logits"], {ours.get_inputs()[0].name: x.numpy()})[0]
    nchw = x
    if a["input"] == "uint8":  # what a PyTorch user feeds: ToTensor + Normalize of the same pixels
        c = a["shape"][3]
        nchw = x.permute(0, 3, 1, 2).float() / 255
        nchw = ((nchw - torch.tensor(a["mean"]).view(1, c, 1, 1)) / torch.tensor(a["std"]).view(1, c, 1, 1)).contiguous()
    model = load(a, a["weights"]).eval()
    theirs_file = a["onnx"] + ".torch.onnx"
    torch.onnx.export(model, (nchw,), theirs_file, input_names=["input"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},), dynamo=True, verbose=False)
    theirs = ort.InferenceSession(theirs_file, options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        eager = model(nchw)
    return {"ours": ours_out.flatten().tolist(),
            "torchOnnx": theirs.run(["logits"], {"input": nchw.numpy()})[0].flatten().tolist(),
            "eager": eager.flatten().tolist(),
            "metadata": {p.key: p.value for p in onnx.load(a["onnx"]).metadata_props}}


def loss_grad(a):
    n, c = a["shape"]
    s = torch.tensor(a["student"], dtype=torch.float64).reshape(n, c).requires_grad_(True)
    t = torch.tensor(a["teacher"], dtype=torch.float64).reshape(n, c)
    y = torch.tensor(a["labels"], dtype=torch.long)
    total, ce, kd = reference_loss(s, t, y, a["loss"])
    total.backward()
    return {"total": total.item(), "ce": ce.item(), "kd": kd.item(), "grad": s.grad.flatten().tolist()}


if __name__ == "__main__":
    torch.set_num_threads(int(json.loads(sys.argv[2]).get("threads", torch.get_num_threads())))
    command = {"make-weights": make_weights, "make-batch": make_batch, "forward": forward, "step": step,
               "compare": compare, "loss-grad": loss_grad, "stats": stats, "schedule": schedule,
               "classify": classify, "cpu": cpu, "onnx-check": onnx_check, "ddp-steps": ddp_steps}[sys.argv[1]]
    print(json.dumps(command(json.loads(sys.argv[2]))))
