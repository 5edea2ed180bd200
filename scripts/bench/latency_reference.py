"""PyTorch eager and onnxruntime (Python) side of `npm run bench -- latency`: each row's forward pass
timed with the rule the Node side uses (two warm-ups, then passes until `repeats` and MIN_MS, at most
10 × repeats; the median). Usage: python latency_reference.py JSON_ARGS; prints one JSON line of
{row key: {"eager": ms, "onnxruntime": ms}}."""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/test/reference")
from kd_reference import load  # noqa: E402  (the article's student and torchvision's resnet18)

MIN_MS = 250


def median_ms(fn, repeats):
    for _ in range(2):
        fn()
    times = []
    while len(times) < repeats or (sum(times) < MIN_MS and len(times) < 10 * repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def main(a):
    torch.set_num_threads(a["threads"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = a["threads"]
    options.inter_op_num_threads = 1
    out = {}
    for row in a["rows"]:
        model = load(row["spec"], row["weights"]).eval()
        session = ort.InferenceSession(row["onnx"], options, providers=["CPUExecutionProvider"])
        for batch in a["batches"]:
            size, channels = row["spec"]["inputSize"], row["spec"].get("inChannels", 3)
            x = torch.from_numpy(np.sin(np.arange(batch * channels * size * size, dtype=np.float32) * 0.37)
                                 .reshape(batch, channels, size, size))
            feed = {"input": x.numpy()}
            with torch.inference_mode():
                eager = median_ms(lambda: model(x), a["repeats"])
            out[f"{row['key']}/{batch}"] = {"eager": eager,
                                            "onnxruntime": median_ms(lambda: session.run(["logits"], feed), a["repeats"])}
    return out


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
