"""The article's experiment in PyTorch, as written: its transforms, TeacherNet, StudentNet,
DistillationLoss and training loop (validation on the test split, the 'frozen' teacher that trains,
nn.KLDivLoss() with reduction 'mean' and no T²). `--variant corrected` applies kdtorch's
corrections instead: really frozen backbone when given pretrained weights, KL batchmean × T², and
validation carved from train (stratified, seeded). The article gives no optimizer: Adam at 1e-3,
as kdtorch's `article` preset. `--splits` takes kdtorch's training and validation lists instead of
ImageFolder's train split and this script's own carve-out (compare passes them: both sides then
train and select on the same images).

Usage: python article.py PHASE --data DIR [--size 224] [--epochs 30] [--batch 32] [--lr 1e-3]
       [--alpha 0.25] [--temperature 1] [--teacher FILE] [--out FILE] [--variant article|corrected]
       [--device cpu] [--threads N] [--seed 0] [--workers 0] [--latency-repeats 20]
       [--optimizer adam|adamw] [--weight-decay 0] [--cosine] [--balanced] [--splits FILE] [--tuned]
--optimizer adamw, --weight-decay, --cosine and --balanced give kdtorch's `recommended` settings (AdamW,
cosine per batch, balanced class weights). `--tuned` is the loop a PyTorch user would write for a GPU
(bf16 autocast, channels_last, cudnn.benchmark, fused Adam, pinned batches; with --workers): not the
article's code, the best PyTorch to hold kdtorch's own tuned settings against.
`--augment` adds kdtorch's `recommended` augmentation as a PyTorch user writes it (torchvision.transforms.v2:
RandomResizedCrop(scale 0.7-1), RandomAffine(12 degrees, 10% shifts, bilinear), ColorJitter(0.2, 0.2)).
`--views K` (distill) gives each training image K fixed augmented views, view k drawn under a seed of
(seed, image, k), and runs the teacher once over all of them, as kdtorch's distill.teacherViews does;
each epoch an image shows one of its K views. `--select last` keeps the last epoch instead of the best
on validation.
PHASE: teacher | student | distill. Prints one JSON line."""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file
from torchvision import datasets, transforms
from torchvision.transforms import v2


class StudentNet(nn.Module):
    def __init__(self, input_size):
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(3, 4, kernel_size=3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc = nn.Linear(4 * (input_size // 2) ** 2, 2)

    def forward(self, x):
        out = self.layer1(x)
        out = out.reshape(out.size(0), -1)  # the article's .view(); the same tensor, and it takes channels_last (--tuned)
        return self.fc(out)


def teacher_net(weights, corrected):
    """The article's TeacherNet: ResNet-18 (from `weights` when given), its 'freezing', a new 2-class fc."""
    model = torchvision.models.resnet18()
    if weights:
        state = load_file(weights) if weights.endswith(".safetensors") else torch.load(weights, map_location="cpu")
        model.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)
    freeze = corrected and weights is not None
    for params in model.parameters():
        if freeze:
            params.requires_grad_(False)
        else:
            params.requires_grad_ = False  # the article's line: sets an attribute, freezes nothing
    model.fc = nn.Linear(512, 2)
    return model


class DistillationLoss(nn.Module):
    def __init__(self, alpha, temperature, corrected, weight=None):
        super().__init__()
        self.alpha, self.T, self.corrected = alpha, temperature, corrected
        self.ce = nn.CrossEntropyLoss(weight=weight)
        self.kl = nn.KLDivLoss(reduction="batchmean") if corrected else nn.KLDivLoss()

    def forward(self, s, t, y):
        kd = self.kl(F.log_softmax(s / self.T, dim=1), F.softmax(t / self.T, dim=1))
        if self.corrected:
            kd = kd * self.T ** 2
        return (1 - self.alpha) * self.ce(s, y) + self.alpha * kd


class FileList(torch.utils.data.Dataset):
    """Images named by a split list of [path relative to the data folder, label] pairs."""

    def __init__(self, root, items, transform):
        self.samples = [(os.path.join(root, p), label) for p, label in items]
        self.targets = [label for _, label in self.samples]
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        return self.transform(datasets.folder.default_loader(path)), label


class Views(torch.utils.data.Dataset):
    """K fixed augmented views per image of `base` (whose transform is random): view k of image i is drawn
    with torch's generator seeded from (seed, i, k). Yields (x, label, i, k); `epoch` picks each image's k."""

    def __init__(self, base, views, seed):
        self.base, self.views, self.seed, self.epoch, self.fixed = base, views, seed, 0, None

    def __len__(self):
        return len(self.base)

    def view_of(self, i):
        if self.fixed is not None:
            return self.fixed
        return int(np.random.default_rng([self.seed, self.epoch, i]).integers(self.views))

    def __getitem__(self, i):
        k = self.view_of(i)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.default_rng([self.seed, i, k, 7]).integers(2 ** 62)))
            x, label = self.base[i]
        return x, label, i, k


def recommended_augment(size):
    """kdtorch's `recommended` data.augment as torchvision.transforms.v2, on uint8 tensors after the resize."""
    return [
        v2.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomAffine(degrees=12, translate=(0.1, 0.1), interpolation=v2.InterpolationMode.BILINEAR, fill=0),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ]


def loaders(a):
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    augment = recommended_augment(a.size) if a.augment else []
    train_tf = transforms.Compose([transforms.Resize((a.size, a.size)), transforms.RandomHorizontalFlip(),
                                   v2.PILToTensor(), *augment, v2.ToDtype(torch.float32, scale=True),
                                   transforms.Normalize(mean, std)])
    test_tf = transforms.Compose([transforms.Resize((a.size, a.size)), transforms.ToTensor(),
                                  transforms.Normalize(mean, std)])
    train = datasets.ImageFolder(f"{a.data}/train", transform=train_tf)
    test = datasets.ImageFolder(f"{a.data}/test", transform=test_tf)
    if a.splits:
        with open(a.splits) as f:
            lists = json.load(f)
        if lists["classes"] != test.classes:
            raise SystemExit(f"{a.splits} has classes {lists['classes']} but {a.data}/test has {test.classes}")
        train, val_set = FileList(a.data, lists["train"], train_tf), FileList(a.data, lists["val"], test_tf)
    elif a.variant == "corrected":
        # Stratified, seeded 10% of train for validation: kdtorch's rule, not its images (kdtorch merges
        # a tiny val/ into the pool first and shuffles with its own generator; --splits gives its lists).
        g = torch.Generator().manual_seed(a.seed)
        targets = torch.tensor(train.targets)
        val_idx = []
        for c in range(len(train.classes)):
            idx = (targets == c).nonzero().flatten()
            val_idx += idx[torch.randperm(len(idx), generator=g)[: round(len(idx) * 0.1)]].tolist()
        keep = sorted(set(range(len(train))) - set(val_idx))
        val_set = torch.utils.data.Subset(datasets.ImageFolder(f"{a.data}/train", transform=test_tf), sorted(val_idx))
        train = torch.utils.data.Subset(train, keep)
    else:
        val_set = test  # the article's fault: model selection on the test split
    kw = dict(batch_size=a.batch, num_workers=a.workers, persistent_workers=a.workers > 0,
              pin_memory=a.tuned and a.device.startswith("cuda"))
    if a.views:
        train = Views(train, a.views, a.seed)
    return (torch.utils.data.DataLoader(train, shuffle=True, **kw), torch.utils.data.DataLoader(val_set, **kw),
            torch.utils.data.DataLoader(test, **kw))


def teacher_logits(teacher, views, a, device):
    """The teacher's logits for every view of every training image: [images, K, classes], in eval mode."""
    out = torch.zeros(len(views), views.views, 2)
    teacher.eval()
    with torch.no_grad():
        for k in range(views.views):
            views.fixed = k
            for x, _, i, _ in torch.utils.data.DataLoader(views, batch_size=a.batch, num_workers=a.workers):
                out[i, k] = teacher(x.to(device)).float().cpu()
    views.fixed = None
    return out


def tuned_input(x, device, tuned):
    """A batch on the device: as written, a plain copy; tuned, non-blocking from pinned memory, channels_last."""
    x = x.to(device, non_blocking=tuned)
    return x.contiguous(memory_format=torch.channels_last) if tuned else x


def evaluate(model, loader, device, tuned):
    model.eval()
    probs, labels, loss_sum = [], [], 0.0
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=tuned):
        for x, y in loader:
            out = model(tuned_input(x, device, tuned)).float()
            loss_sum += F.cross_entropy(out, y.to(device), reduction="sum").item()
            probs.append(F.softmax(out, dim=1).cpu())
            labels.append(y)
    p, y = torch.cat(probs).numpy(), torch.cat(labels).numpy()
    return p, y, loss_sum / len(y)


def metrics(p, y, positive=1):
    pred = p.argmax(1)
    tp = int(((pred == positive) & (y == positive)).sum())
    tn = int(((pred != positive) & (y != positive)).sum())
    fp = int(((pred == positive) & (y != positive)).sum())
    fn = int(((pred != positive) & (y == positive)).sum())
    ratio = lambda a, b: a / b if b else 0.0
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    s = p[:, positive]
    pos, neg = s[y == positive], s[y != positive]
    auc = float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))
    return {"accuracy": float((pred == y).mean()), "precision": precision, "recall": recall,
            "specificity": ratio(tn, tn + fp), "f1": ratio(2 * precision * recall, precision + recall), "rocAuc": auc,
            "confusion": [[tn, fp], [fn, tp]] if positive == 1 else None}


def latency(model, size, device, batch_sizes, repeats, tuned):
    model.eval()
    rows = []
    for b in batch_sizes:
        x = tuned_input(torch.randn(b, 3, size, size), device, tuned)
        times = []
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=tuned):
            for i in range(repeats + 2):
                start = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if i >= 2:
                    times.append(time.perf_counter() - start)
        ms = 1000 * sorted(times)[len(times) // 2]
        rows.append({"batchSize": b, "msPerBatch": ms, "msPerImage": ms / b, "imagesPerSecond": 1000 * b / ms})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["teacher", "student", "distill"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--alpha", type=float, default=0.25)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--teacher", default=None, help="teacher weights: the distillation's teacher, or the teacher's init")
    ap.add_argument("--out", default=None, help="where to save the best weights (safetensors)")
    ap.add_argument("--variant", choices=["article", "corrected"], default="article")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--tuned", action="store_true",
                    help="what a PyTorch user tunes for a GPU: bf16 autocast, channels_last, cudnn.benchmark, fused "
                         "Adam on CUDA, pinned non-blocking batches, metrics summed on the device (workers: --workers)")
    ap.add_argument("--latency-repeats", type=int, default=20)
    ap.add_argument("--optimizer", choices=["adam", "adamw"], default="adam")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--cosine", action="store_true", help="CosineAnnealingLR over all batches, stepped per batch")
    ap.add_argument("--balanced", action="store_true", help="class weights n / (classes * n_c) from train")
    ap.add_argument("--splits", default=None, help="JSON {classes, train, val}: [path, label] lists (kdtorch's)")
    ap.add_argument("--augment", action="store_true", help="kdtorch's recommended augmentation (torchvision.transforms.v2)")
    ap.add_argument("--views", type=int, default=0, help="distill: K fixed views per image, teacher logits computed once")
    ap.add_argument("--select", choices=["best", "last"], default="best", help="keep the best epoch on validation, or the last")
    a = ap.parse_args()
    if a.views and a.phase != "distill":
        raise SystemExit("--views is for distill")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = a.tuned
    corrected = a.variant == "corrected"
    train_loader, val_loader, test_loader = loaders(a)

    teacher = None
    if a.phase == "teacher":
        model = teacher_net(a.teacher, corrected)
    else:
        model = StudentNet(a.size)
    if a.phase == "distill":
        teacher = torchvision.models.resnet18(num_classes=2)
        teacher.load_state_dict(load_file(a.teacher))
        teacher = teacher.to(device).eval()
    memory_format = torch.channels_last if a.tuned else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    if teacher is not None:
        teacher = teacher.to(memory_format=memory_format)
    fused = {"fused": True} if a.tuned and device.type == "cuda" else {}
    optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[a.optimizer](
        [p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=a.weight_decay, **fused)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=a.epochs * len(train_loader))
                 if a.cosine else None)
    weight = None
    if a.balanced:
        labelled = train_loader.dataset.base if a.views else train_loader.dataset
        targets = torch.tensor([labelled.dataset.targets[i] for i in labelled.indices]
                               if isinstance(labelled, torch.utils.data.Subset) else labelled.targets)
        counts = torch.bincount(targets).double()
        weight = (len(targets) / (len(counts) * counts)).float().to(device)
    criterion = (DistillationLoss(a.alpha, a.temperature, corrected, weight) if teacher is not None
                 else nn.CrossEntropyLoss(weight=weight))

    history, best, best_state = [], None, None
    started = time.perf_counter()
    cached = teacher_logits(teacher, train_loader.dataset, a, device) if a.views else None
    for epoch in range(a.epochs):
        epoch_start = time.perf_counter()
        model.train()
        if a.views:
            train_loader.dataset.epoch = epoch
        # Tuned, the sums stay on the device: .item() waits for the GPU at every step.
        loss_sum, correct, n = (torch.zeros((), device=device) if a.tuned else 0.0), 0, 0
        for batch in train_loader:
            x, y = batch[0], batch[1]
            x, y = tuned_input(x, device, a.tuned), y.to(device, non_blocking=a.tuned)
            optimizer.zero_grad()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.tuned):
                out = model(x)
                if teacher is not None:
                    if cached is not None:
                        t = cached[batch[2], batch[3]].to(device)
                    else:
                        with torch.no_grad():
                            t = teacher(x)
                    loss = criterion(out.float(), t.float(), y)
                else:
                    loss = criterion(out.float(), y)
            loss.backward()
            optimizer.step()
            if scheduler:
                scheduler.step()
            if a.tuned:
                loss_sum += loss.detach() * len(y)
                correct += (out.argmax(1) == y).sum()
            else:
                loss_sum += loss.item() * len(y)
                correct += (out.argmax(1) == y).sum().item()
            n += len(y)
        loss_sum, correct = float(loss_sum), int(correct)
        train_seconds = time.perf_counter() - epoch_start
        p, yv, val_loss = evaluate(model, val_loader, device, a.tuned)
        val_acc = float((p.argmax(1) == yv).mean())
        history.append({"epoch": epoch + 1, "trainLoss": loss_sum / n, "trainAccuracy": correct / n, "valLoss": val_loss,
                        "valAccuracy": val_acc, "seconds": time.perf_counter() - epoch_start,
                        "imagesPerSecond": n / train_seconds})
        if (a.select == "last" or best is None or val_acc > best["valAccuracy"]
                or (val_acc == best["valAccuracy"] and val_loss < best["valLoss"])):
            best = history[-1]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    total = time.perf_counter() - started
    model.load_state_dict(best_state)
    if a.out:
        save_file({k: v.contiguous().cpu() for k, v in best_state.items()}, a.out)
    p, yt, test_loss = evaluate(model, test_loader, device, a.tuned)
    result = {
        "phase": a.phase, "variant": a.variant, "size": a.size, "epochs": a.epochs, "device": str(device),
        "threads": torch.get_num_threads(), "history": history, "bestEpoch": best["epoch"], "totalSeconds": total,
        "trainImagesPerSecond": sum(h["imagesPerSecond"] for h in history) / len(history),
        "parameters": sum(p.numel() for p in model.parameters()),
        "test": {**metrics(p, yt), "loss": test_loss, "count": int(len(yt))},
        "latency": latency(model, a.size, device, [1, 32], a.latency_repeats, a.tuned),
        "tuned": a.tuned, "workers": a.workers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
