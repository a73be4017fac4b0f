"""Every notebook at `full` on the CPU, with the `slow` cells: `make rehearse-full` (PETS_REHEARSE=1) runs it.

What stands in for what a GPU user gets from the internet:
- the download: `untar_data` fetches a .tgz in the Oxford layout (generated pictures) from a server on 127.0.0.1
  (tests/test_download.py's), through `PETS_URL`, checked against `PETS_CHECK`;
- torchvision's ImageNet weights: randomly initialised resnets saved where torchvision's cache looks for each
  file (`torch.hub.get_dir()/checkpoints/<file name of the weights URL>`, in a temporary TORCH_HOME).
The only shrinking is `PETS_OVERRIDES` (`REHEARSAL` below): photos per breed, image sizes, batch size, one epoch.
`PETS_REHEARSAL=1` lets a lesson skip an accuracy claim (`profiles.rehearsing()`), never the code before it.
It proves that every `full`-only line runs, end to end, with the real download and weight-loading code; it
says nothing about accuracy (random weights, generated pictures). On a CPU it skips GPU-only code (`cuda` cells);
`make test-gpu` runs the same rehearsal on a GPU, those cells included.
"""
import io, os, tarfile
from pathlib import Path

import pytest
import torch, torchvision
from fastai.data.external import fastai_cfg
from nbdev.test import test_nb as run_nb

from pets_fastai.photos import make_pets
from test_download import PetsServer, stats

pytestmark = pytest.mark.skipif(not os.environ.get('PETS_REHEARSE'), reason='`make rehearse-full` runs the rehearsal')
ROOT = Path(__file__).resolve().parent.parent
NBS = sorted((ROOT/'nbs').glob('[0-9][0-9]*_*.ipynb'))
REHEARSAL = 'n_per_breed=4,item_sz=96,sz=64,bs=16,epochs=1'  # the documented override; everything else is `full`'s
# bs=16: with 4 photos per breed, an epoch of 64 would be 2 steps, too few for a one-cycle schedule to reach its peak
ARCHIVE_PER_BREED = 5  # more than REHEARSAL keeps, so the per-breed cut runs too

def resnet_weights(torch_home:Path)->list[Path]:
    "Random weights for every torchvision resnet, saved under the file names torchvision downloads"
    ckpt = torch_home/'hub'/'checkpoints'
    ckpt.mkdir(parents=True, exist_ok=True)
    fns = []
    for name in sorted(n for n in torchvision.models.list_models(torchvision.models) if n.startswith('resnet')):
        model = None
        for w in torchvision.models.get_model_weights(name):
            fn = ckpt/Path(w.url).name
            if not fn.exists():
                model = model or torchvision.models.get_model(name, weights=None)
                torch.save(model.state_dict(), fn)
            fns.append(fn)
    return fns

@pytest.fixture(scope='session')
def stand_ins(tmp_path_factory):
    "This worker's server with the archive, and a TORCH_HOME holding the stand-in weights"
    tmp = tmp_path_factory.mktemp('rehearsal')
    gen = make_pets(tmp/'gen', n_per_breed=ARCHIVE_PER_BREED, max_side=400)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        for fn in sorted((gen/'images').iterdir()): tar.add(fn, arcname=f'oxford-iiit-pet/images/{fn.name}')
    resnet_weights(tmp/'torch')
    with PetsServer(buf.getvalue(), lifetime=900) as srv: yield tmp, srv

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook_at_full(nb, stand_ins, monkeypatch):
    tmp, srv = stand_ins
    env = dict(PETS_PROFILE='full', PETS_REHEARSAL='1', PETS_OVERRIDES=REHEARSAL, PETS_URL=srv.url, PETS_CHECK=stats(srv.body),
               FASTAI_HOME=str(tmp/'fastai'), XDG_CACHE_HOME=str(tmp/'cache'), TORCH_HOME=str(tmp/'torch'))
    for k, v in env.items(): monkeypatch.setenv(k, v)
    monkeypatch.delenv('PETS_PATH', raising=False)
    fastai_cfg.cache_clear()
    cuda = ['cuda'] if torch.cuda.is_available() else []  # `cuda` cells run where there is one (make test-gpu)
    ok, _ = run_nb(nb, skip_flags=['cuda'] if not cuda else [], force_flags=['slow'] + cuda, basepath=ROOT, cell_timeout=900)
    assert ok, f'{nb.name} failed at full on the CPU ({REHEARSAL}); the traceback is printed above'
    assert srv.requests <= 1, 'each worker downloads the archive once, then uses the cache'
