"""torchvision's side of kdtorch's augmentation parity test: the views kdtorch sampled, applied by
torchvision.transforms.v2.functional to the same uint8 images, in kdtorch's order (flip, resized crop,
affine, rotation, colour jitter in each image's order, erasing). Usage:
python augment_reference.py JSON_ARGS with {pixels, shape [N, H, W, C], flip, views, spec, fill, out}.
Writes out.f32 (the float path: uint8 / 255 through the float kernels, x 255) and out.u8 (the uint8
kernels, what a torchvision DataLoader on uint8 tensors computes). Prints one JSON line."""
import json
import sys

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode


def view_of(image, flip, view, spec, fill):
    """One CHW image (float in [0, 1] or uint8) through the transforms `spec` enables, with `view`'s parameters."""
    height, width = image.shape[-2:]
    mode = InterpolationMode.BILINEAR if spec["interpolation"] == "bilinear" else InterpolationMode.NEAREST
    if flip:
        image = TF.horizontal_flip(image)
    if "resizedCrop" in spec:
        top, left, h, w = view["crop"]
        image = TF.resized_crop(image, top, left, h, w, [height, width],
                                interpolation=InterpolationMode.BILINEAR, antialias=True)
    if "affine" in spec:
        image = TF.affine(image, angle=view["angle"], translate=view["translate"], scale=view["scale"],
                          shear=view["shear"], interpolation=mode, fill=0)
    if "rotation" in spec:
        image = TF.rotate(image, view["rotation"], interpolation=mode, fill=0)
    if "colorJitter" in spec:
        for op in view["colorOrder"]:
            if op == 0:
                image = TF.adjust_brightness(image, view["brightness"])
            elif op == 1:
                image = TF.adjust_contrast(image, view["contrast"])
            else:
                image = TF.adjust_saturation(image, view["saturation"])
    if "erasing" in spec and view["erase"][2] > 0:
        top, left, h, w = view["erase"]
        scale = 1.0 if image.is_floating_point() else 255.0
        value = torch.tensor(fill, dtype=torch.float32).view(-1, 1, 1) * scale
        image = TF.erase(image, top, left, h, w, value.to(image.dtype) if not image.is_floating_point() else value)
    return image


def main(a):
    n, height, width, channels = a["shape"]
    pixels = np.fromfile(a["pixels"], dtype=np.uint8).reshape(n, height, width, channels)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    as_float = []
    as_uint8 = []
    for i in range(n):
        args = (a["flip"][i], a["views"][i], a["spec"], a["fill"])
        as_float.append(view_of(TF.to_dtype(images[i], torch.float32, scale=True), *args) * 255)
        as_uint8.append(view_of(images[i], *args))
    torch.stack(as_float).numpy().astype(np.float32).tofile(a["out"] + ".f32")
    torch.stack(as_uint8).numpy().astype(np.uint8).tofile(a["out"] + ".u8")
    return {"images": n}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
