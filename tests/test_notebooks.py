"One test per notebook: each runs top to bottom at `$PETS_PROFILE` (default `smoke`), flagged cells skipped."
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb
from helpers import SHRUNK

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted((ROOT/'nbs').glob('*.ipynb'))
# Lessons 4 and 5 compare settings over seeds; their accuracy claims need ImageNet weights (`sample`), so at `smoke` they
# check what the code does, which 8 generated pictures a breed show as well as 20, and sooner.
FEWER = {'04_lr_find', '05_transfer'}

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, monkeypatch):
    if os.environ.get('PETS_SHRINK'):  # `make test-lower`: every line with the lower bounds' libraries, shrunk
        for k, v in SHRUNK.items(): monkeypatch.setenv(k, v)
    elif os.environ['PETS_PROFILE'] == 'smoke' and nb.stem in FEWER and not os.environ.get('PETS_OVERRIDES'):
        monkeypatch.setenv('PETS_OVERRIDES', 'n_per_breed=8')
    if os.environ['PETS_PROFILE'] == 'sample' and not os.environ.get('PETS_PATH'):
        pytest.fail('PETS_PROFILE=sample runs on the real photos: set PETS_PATH to them (`make test-sample` does, beside ../shared)')
    skip = get_config(ROOT).tst_flags.split()
    force = os.environ.get('PETS_FLAGS', '').split()  # e.g. PETS_FLAGS="slow cuda" on a GPU at full scale
    ok, _ = run_nb(nb, skip_flags=skip, force_flags=force, basepath=ROOT, cell_timeout=900)
    assert ok, f'{nb.name} failed at PETS_PROFILE={os.environ["PETS_PROFILE"]}; the traceback is printed above'
