"Presized copies and pixel stores are made again when the way they are made changes, not only when the photos do."
import hashlib, inspect
from pathlib import Path

import pytest
from PIL import Image

from pets_fastai import presize

def _src_hash(*fs)->str: return hashlib.sha256(''.join(inspect.getsource(f) for f in fs).encode()).hexdigest()[:12]

@pytest.mark.parametrize('version, fs, pinned', [
    ('PRESIZE_VERSION', (presize._presize,), (1, '374bc9de7840')),
    ('STORE_VERSION', (presize._grid, presize._pixels), (1, 'e724603c4502'))])
def test_a_changed_recipe_has_a_new_version(version, fs, pinned):
    got = (getattr(presize, version), _src_hash(*fs))
    assert got == pinned, (f"{', '.join(f.__name__ for f in fs)} changed: copies made the old way would be served as if "
                           f"made the new way. Raise {version} in nbs/00c_presize.ipynb, then pin the new version with the hash {got[1]!r} here.")

def test_copies_made_another_way_are_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'cache'))
    (photos := tmp_path/'photos'/'images').mkdir(parents=True)
    for i in range(3): Image.new('RGB', (80 + i, 60), (i * 40, 90, 200)).save(photos/f'Bengal_{i}.jpg')
    made = []
    real = presize._presize
    monkeypatch.setattr(presize, '_presize', lambda *a: (made.append(a[0].name), real(*a)))
    dest = presize.presized(photos, 32)
    assert sorted(made) == ['Bengal_0.jpg', 'Bengal_1.jpg', 'Bengal_2.jpg']
    made.clear(); assert presize.presized(photos, 32) == dest and made == []  # up to date: nothing made
    monkeypatch.setattr(presize, 'PRESIZE_VERSION', presize.PRESIZE_VERSION + 1)
    assert presize.presized(photos, 32) == dest and sorted(made) == ['Bengal_0.jpg', 'Bengal_1.jpg', 'Bengal_2.jpg']
