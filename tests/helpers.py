"Helpers shared by the test files: the command line as a user runs it, and small learners, so no test file defines its own."

# ---------------------------------------------------------------- runapi: the command line as a user runs it
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# `make test-device` and `make test-lower` check where tensors live and that every line runs with other libraries, not
# what a model learns: they run the notebooks at `smoke` shrunk as `make rehearse-full` shrinks `full` (4 pictures a
# breed, batches of 16, one epoch), with the accuracy claims that so few pictures cannot meet skipped (`rehearsing()`).
SHRUNK = dict(PETS_OVERRIDES='n_per_breed=4,bs=16,epochs=1', PETS_REHEARSAL='1')

def cli(*args, env:dict|None=None, cwd:Path=ROOT, timeout:int=900)->subprocess.CompletedProcess:
    "Run `python -m pets_fastai.cli args` in `cwd` at the smoke scale; `env` entries set to None are removed"
    env = {**os.environ, 'PETS_PROFILE': 'smoke', 'MPLBACKEND': 'Agg', **(env or {})}
    return subprocess.run([sys.executable, '-m', 'pets_fastai.cli', *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={k: v for k, v in env.items() if v is not None})

def shown(p:Path, cwd:Path=ROOT)->str:
    "`p` as a command run in `cwd` prints it (`profiles.short_path`): relative when near `cwd`, so it depends on where the checkout is"
    from fastcore.xtras import working_directory
    from pets_fastai.profiles import short_path
    with working_directory(cwd): return short_path(p)

def assert_clean_failure(r:subprocess.CompletedProcess, code:int, msg:str):
    "`r` exited with `code`, said `msg` on stderr, and showed no traceback"
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert msg in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]


# ---------------------------------------------------------------- small learners on random data
import torch
from torch import nn
from fastai.vision.all import Learner, DataLoaders, DataLoader, CrossEntropyLossFlat, accuracy, params
from fastai.torch_core import set_seed


def linear_learner(n:int=24, bs:int=8, **kwargs)->Learner:
    "A linear classifier on `n` random 2-feature points, on the CPU"
    x, y = torch.randn(n, 2), torch.randint(0, 2, (n,))
    dls = DataLoaders.from_dsets(list(zip(x, y)), list(zip(x[:8], y[:8])), bs=bs, device='cpu')
    return Learner(dls, nn.Linear(2, 2), loss_func=CrossEntropyLossFlat(), **kwargs)


def conv_learner(seed:int=0, n:int=160, bs:int=16)->Learner:
    "A small conv net with batch norm, learning 4 classes of 3×8×8 random images from their channel means"
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 8, 8, generator=g)
    x[:, 0] += torch.arange(n).remainder(4)[:, None, None] * 0.5
    y = torch.arange(n).remainder(4)
    items = list(zip(x, y))
    dls = DataLoaders.from_dsets(items[:128], items[128:], bs=bs, device='cpu')
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(8, 4))
    return Learner(dls, model, loss_func=CrossEntropyLossFlat())


def grouped_learner(seed:int=3, **kwargs)->Learner:
    "A 3-group learner on 96 random points: a body with batch norm, a new head with dropout"
    set_seed(seed)
    x = torch.randn(96, 8)
    ds = list(zip(x, (x[:, 0] + x[:, 1] > 0).long()))
    dls = DataLoaders(DataLoader(ds[:64], bs=16, shuffle=True, drop_last=True), DataLoader(ds[64:], bs=16))
    body = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
    model = nn.Sequential(body, nn.Sequential(nn.Dropout(0.3), nn.Linear(16, 2)))
    split = lambda m: [params(m[0][:2]), params(m[0][2:]), params(m[1])]
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, splitter=split, **kwargs)
