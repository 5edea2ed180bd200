"""PyTorch eager side of `npm run bench -- steps`: the article's training steps and inference,
timed in-process. Usage: python steps_reference.py JSON_ARGS; prints one JSON line of
{row: [seconds per call, ...]}."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/test/reference")
from kd_reference import StudentNet  # noqa: E402  (the article's student, shared with the tests)


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(a):
    torch.set_num_threads(a["threads"])
    torch.manual_seed(0)
    n, size = a["batch"], a["size"]
    x = torch.randn(n, 3, size, size)
    y = torch.randint(0, 2, (n,))
    teacher = torchvision.models.resnet18(num_classes=2)
    student = StudentNet(2, size)
    teacher_opt = torch.optim.SGD(teacher.parameters(), lr=0.01, momentum=0.9)
    student_opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    kl = nn.KLDivLoss()
    alpha, T = 0.25, 1.0

    def teacher_step():
        teacher.train()
        teacher_opt.zero_grad()
        F.cross_entropy(teacher(x), y).backward()
        teacher_opt.step()

    def student_step():
        student.train()
        student_opt.zero_grad()
        F.cross_entropy(student(x), y).backward()
        student_opt.step()

    def distill_step():  # the article's loop body
        teacher.eval()
        student.train()
        student_opt.zero_grad()
        with torch.no_grad():
            t = teacher(x)
        s = student(x)
        loss = (1 - alpha) * F.cross_entropy(s, y) + alpha * kl(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1))
        loss.backward()
        student_opt.step()

    def inference(model):
        def run():
            model.eval()
            with torch.no_grad():
                model(x)
        return run

    rows = {"teacherStep": teacher_step, "studentStep": student_step, "distillStep": distill_step,
            "teacher inference": inference(teacher), "student inference": inference(student)}
    result = {name: timed(fn, a["warmup"], a["repeats"]) for name, fn in rows.items() if name in a["rows"]}
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__, "seconds": result}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
