"""PyTorch eager side of `npm run bench -- steps`: the article's training steps and inference,
timed in-process. Usage: python steps_reference.py JSON_ARGS; prints one JSON line of
{row: [seconds per call]}: `repeats` calls timed as one block ended by a device sync."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/test/reference")
from kd_reference import StudentNet  # noqa: E402  (the article's student, shared with the tests)


def timed(fn, warmup, repeats, sync):
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return [(time.perf_counter() - start) / repeats]


def main(a):
    torch.set_num_threads(a["threads"])
    torch.manual_seed(0)
    n, size = a["batch"], a["size"]
    device, tuned = torch.device(a["device"]), a["tuned"]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.backends.cudnn.benchmark = tuned
    # The host batch goes to the device in every call, as the article's loop does (`x.to(device)`).
    x_host = torch.randn(n, 3, size, size)
    y_host = torch.randint(0, 2, (n,))
    if tuned and device.type == "cuda":
        x_host, y_host = x_host.pin_memory(), y_host.pin_memory()

    def batch():
        return x_host.to(device, non_blocking=tuned), y_host.to(device, non_blocking=tuned)

    # Which networks run in bf16 autocast and channels-last: the teacher when tuned, both with --bf16.
    low_teacher, low_student = tuned or a["bf16"], a["bf16"]
    teacher = torchvision.models.resnet18(num_classes=2).to(device)
    if low_teacher:
        teacher = teacher.to(memory_format=torch.channels_last)
    student = StudentNet(2, size).to(device)
    if low_student:
        student = student.to(memory_format=torch.channels_last)
    fused = True if tuned else None  # None: torch.optim's default (foreach on a GPU, a loop on a CPU)
    teacher_opt = torch.optim.SGD(teacher.parameters(), lr=0.01, momentum=0.9, fused=fused)
    student_opt = torch.optim.Adam(student.parameters(), lr=1e-3, fused=fused)
    kl = nn.KLDivLoss()
    alpha, T = 0.25, 1.0

    def low_precision(model, enabled):
        def forward(x):
            if enabled:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled):
                return model(x).float()
        return forward

    teacher_forward, student_forward = low_precision(teacher, low_teacher), low_precision(student, low_student)

    def teacher_step():
        x, y = batch()
        teacher.train()
        teacher_opt.zero_grad()
        F.cross_entropy(teacher_forward(x), y).backward()
        teacher_opt.step()

    def student_step():
        x, y = batch()
        student.train()
        student_opt.zero_grad()
        F.cross_entropy(student_forward(x), y).backward()
        student_opt.step()

    def distill_step():  # the article's loop body
        x, y = batch()
        teacher.eval()
        student.train()
        student_opt.zero_grad()
        with torch.no_grad():
            t = teacher_forward(x)
        s = student_forward(x)
        loss = (1 - alpha) * F.cross_entropy(s, y) + alpha * kl(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1))
        loss.backward()
        student_opt.step()

    def inference(model, forward):
        def run():  # outputs back on the host, as kdtorch's forward returns them
            model.eval()
            with torch.no_grad():
                forward(batch()[0]).cpu()
        return run

    rows = {"teacherStep": teacher_step, "studentStep": student_step, "distillStep": distill_step,
            "teacher inference": inference(teacher, teacher_forward), "student inference": inference(student, student_forward)}
    result = {name: timed(fn, a["warmup"], a["repeats"], sync) for name, fn in rows.items() if name in a["rows"]}
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__, "seconds": result}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
