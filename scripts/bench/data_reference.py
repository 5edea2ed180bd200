"""PyTorch side of the data benchmarks and the decode-parity measurement.
  pixels JSON:  {"files": [...], "size": 224, "out": path} → uint8 HWC RGB of each file after
                PIL .convert("RGB") + transforms.Resize((size, size)), concatenated into `out`
                ("height" and "width" instead of "size" for a non-square target).
  folder JSON:  {"root": dir} → torchvision.datasets.ImageFolder's classes, class_to_idx and samples.
  loader JSON:  {"root": dir, "size": 224, "workers": 0, "batch": 32, "limit": N, "augment": false} → images/s
                of the article's ImageFolder + DataLoader (Resize, RandomHorizontalFlip, ToTensor, Normalize);
                with "augment", kdtorch's `recommended` augmentation in torchvision.transforms.v2 after the flip.
Prints one JSON line."""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision import datasets, transforms
from torchvision.transforms import v2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "reference"))
from article import recommended_augment  # noqa: E402  (one definition of the recipe, beside the article)


def pixels(a):
    resize = transforms.Resize((a.get("height", a.get("size")), a.get("width", a.get("size"))))
    with open(a["out"], "wb") as out:
        for f in a["files"]:
            with Image.open(f) as im:
                out.write(np.asarray(resize(im.convert("RGB")), dtype=np.uint8).tobytes())
    return {"count": len(a["files"])}


def folder(a):
    """torchvision's reading of an ImageFolder: classes, class_to_idx, samples in order."""
    d = datasets.ImageFolder(a["root"], allow_empty=a.get("allowEmpty", False))
    return {"classes": d.classes, "classToIndex": d.class_to_idx, "samples": [[p, y] for p, y in d.samples]}


def loader(a):
    size = a["size"]
    to_tensor = ([v2.PILToTensor(), *recommended_augment(size), v2.ToDtype(torch.float32, scale=True)]
                 if a.get("augment") else [transforms.ToTensor()])
    tf = transforms.Compose([
        transforms.Resize((size, size)),
        transforms.RandomHorizontalFlip(),
        *to_tensor,
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    dataset = datasets.ImageFolder(a["root"], transform=tf)
    if a.get("limit"):
        dataset = torch.utils.data.Subset(dataset, range(min(a["limit"], len(dataset))))
    dl = torch.utils.data.DataLoader(dataset, batch_size=a["batch"], shuffle=True, num_workers=a["workers"])
    start = time.perf_counter()
    n = 0
    for x, _ in dl:
        n += x.shape[0]
    return {"images": n, "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(json.dumps({"pixels": pixels, "folder": folder, "loader": loader}[sys.argv[1]](json.loads(sys.argv[2]))))
