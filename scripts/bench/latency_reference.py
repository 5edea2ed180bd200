"""PyTorch eager or onnxruntime (Python) side of `npm run bench -- latency`, one per process as the Node
sides are (scripts/bench/latency_side.mjs says why): each row's forward pass timed with the rule the Node
side uses (two warm-ups, then passes until `repeats` and MIN_MS, at most 10 × repeats; the median).
Usage: python latency_reference.py eager|onnxruntime JSON_ARGS; prints one JSON line of {row key/batch: ms}."""
import json
import sys
import time

import numpy as np

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


def bench_input(batch, channels, size):
    """The Node sides' input: sin(0.37 i) in float32."""
    return np.sin(np.arange(batch * channels * size * size, dtype=np.float32) * 0.37).reshape(batch, channels, size, size)


def eager(a):
    import torch

    sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/test/reference")
    from kd_reference import load  # the article's student and torchvision's resnet18

    torch.set_num_threads(a["threads"])
    out = {}
    for row in a["rows"]:
        model = load(row["spec"], row["weights"]).eval()
        for batch in a["batches"]:
            x = torch.from_numpy(bench_input(batch, 3, row["spec"]["inputSize"]))
            with torch.inference_mode():
                out[f"{row['key']}/{batch}"] = median_ms(lambda: model(x), a["repeats"])
    return out


def onnxruntime(a):
    import onnxruntime as ort

    levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}
    out = {}
    for row in a["rows"]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = a["threads"]
        options.graph_optimization_level = levels[row["graphOptimizationLevel"]]  # kdtorch/onnx's sessionOptions
        session = ort.InferenceSession(row["onnx"], options, providers=["CPUExecutionProvider"])
        for batch in a["batches"]:
            feed = {"input": bench_input(batch, 3, row["spec"]["inputSize"])}
            out[f"{row['key']}/{batch}"] = median_ms(lambda: session.run(["logits"], feed), a["repeats"])
    return out


if __name__ == "__main__":
    print(json.dumps({"eager": eager, "onnxruntime": onnxruntime}[sys.argv[1]](json.loads(sys.argv[2]))))
