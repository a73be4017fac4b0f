"""The GPU path, checked on the CPU: every notebook with its batches on a second device (`fake_device.py`), the
notebooks that compare or train under float16 mixed precision, and the fake device's own teeth."""
import os, subprocess, sys
from pathlib import Path

import pytest
import torch
from torch import nn

import fake_device
from helpers import SHRUNK  # the fake device's kernels cost twice the CPU's: the notebooks run shrunk

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted(p.stem for p in (ROOT/'nbs').glob('*.ipynb'))
# Notebooks whose cells train under `pets_learner`'s precision or compare results across it: run again as on CUDA
# 05_transfer is left out: it is the longest notebook on the fake device (its route comparison trains a dozen times;
# unshrunk, past the cell time limit in float16); it runs on the fake device in float32 above, and its one
# cross-precision check (its own fine_tune against fastai's) compares two runs made in the same precision.
AMP_NBS = ['03_loss', '06_arch', '10_run', '11_deploy']
pytestmark = [pytest.mark.skipif(not os.environ.get('PETS_FAKE_DEVICE'), reason='`make test-device` runs the notebooks on the fake device'),
              pytest.mark.skipif(bool(fake_device.supported()), reason=fake_device.supported() or '')]


def run_fake(*args:str, timeout:int=900)->subprocess.CompletedProcess:
    "`tests/fake_device.py args` in a fresh process (the device is registered once per process), at smoke, shrunk"
    env = {**os.environ, 'PETS_PROFILE': 'smoke', 'MPLBACKEND': 'Agg', **SHRUNK}
    return subprocess.run([sys.executable, str(ROOT/'tests'/'fake_device.py'), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)

@pytest.mark.parametrize('nb', NBS)
def test_notebook_on_a_second_device(nb):
    r = run_fake(nb)
    assert r.returncode == 0, f'{nb} fails with its batches on a second device, as it would on a GPU:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'

@pytest.mark.parametrize('nb', AMP_NBS)
def test_notebook_under_mixed_precision(nb):
    r = run_fake('--amp', nb)
    assert r.returncode == 0, f'{nb} fails under float16 mixed precision, as it would on a GPU:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'

SCRIPT = '''
import sys, torch
from torch import nn
sys.path.insert(0, 'tests')
import fake_device
dev = fake_device.register()
m, x = nn.Linear(3, 2), torch.randn(4, 3)
ref = m(x)
try: m(x.to(dev)); print('no error')
except RuntimeError as e: print('mismatch:', 'two devices' in str(e))
m.to(dev)
out = m(x.to(dev))
print('device:', out.device.type, 'same:', torch.equal(out.cpu(), ref))
w0, opt = m.weight.cpu().clone(), torch.optim.SGD(m.parameters(), lr=0.1)
m(x.to(dev)).sum().backward(); opt.step()
print('trained on:', {p.device.type for p in m.parameters()}, 'moved:', not torch.equal(m.weight.cpu(), w0))
'''

def test_the_fake_device_refuses_a_model_left_on_the_cpu():
    r = subprocess.run([sys.executable, '-c', SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == ['mismatch: True', 'device: fakegpu same: True', "trained on: {'fakegpu'} moved: True"], r.stdout

def test_the_fake_device_catches_a_notebook_that_assumes_the_cpu(tmp_path):
    "A notebook that leaves a model on the CPU passes at smoke and fails on the fake device: the check has teeth"
    import nbformat
    src = ['from pets_fastai.profiles import get_profile\nfrom pets_fastai.data import pets_dls\nfrom torch import nn\n'
           'dls = pets_dls(get_profile())\nxb, yb = dls.one_batch()',
           'model = nn.Conv2d(3, 4, 3)\nmodel(xb).shape']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# T\n> t')] + [nbformat.v4.new_code_cell(s) for s in src])
    fn = tmp_path/'probe.ipynb'
    nbformat.write(nb, fn)
    plain = subprocess.run([sys.executable, '-c', f'from nbdev.test import test_nb; import sys; sys.exit(0 if test_nb({str(fn)!r})[0] else 1)'],
                           cwd=ROOT, env={**os.environ, 'PETS_PROFILE': 'smoke'}, capture_output=True, text=True, timeout=600)
    fake = run_fake(str(fn))
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert fake.returncode == 1 and 'aten::convolution' in fake.stdout, fake.stdout[-2000:]
