"""The download route (`untar_pets`, `get_pets`, the profile rule) against a server on 127.0.0.1 only.

The server serves a small .tgz in the Oxford layout (`oxford-iiit-pet/images/<breed>_<n>.jpg`), built here from
generated pictures; `PETS_URL` points at it and FASTAI_HOME / XDG_CACHE_HOME are temporary folders. Each server
answers at most `MAX_REQUESTS` requests and shuts itself down after `LIFETIME_S` seconds, whatever the test does.
"""
import hashlib, http.server, io, os, stat, tarfile, threading
from pathlib import Path

import pytest
from fastai.data.external import fastai_cfg
from fastdownload import path_stats

from pets_fastai.photos import PetsDownloadError, get_pets, make_pets, untar_pets
from pets_fastai.data import pets_dls
from pets_fastai.learner import pets_learner
from pets_fastai.profiles import CPU_PER_BREED, default_profile, get_profile, pets_download_dir

MAX_REQUESTS, LIFETIME_S = 8, 120
N_PER_BREED = 4

class PetsServer(http.server.ThreadingHTTPServer):
    "Serves `/oxford-iiit-pet.tgz` from memory as `mode` says: `ok`, `cut` (a short file) or `gone` (dies mid-body)"
    daemon_threads = True
    def __init__(self, body:bytes, mode:str='ok', lifetime:float=LIFETIME_S):
        super().__init__(('127.0.0.1', 0), Handler)
        self.body, self.mode, self.requests = body, mode, 0
        self.timer = threading.Timer(lifetime, self.shutdown)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
    @property
    def url(self): return f'http://127.0.0.1:{self.server_address[1]}/oxford-iiit-pet.tgz'
    def __enter__(self):
        self.timer.start(); self.thread.start()
        return self
    def __exit__(self, *exc):
        self.timer.cancel(); self.shutdown(); self.server_close(); self.thread.join(10)

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        srv = self.server
        srv.requests += 1
        if srv.requests > MAX_REQUESTS or self.path != '/oxford-iiit-pet.tgz':
            self.send_error(404 if srv.requests <= MAX_REQUESTS else 429); return
        body = srv.body[:len(srv.body)*6//10] if srv.mode == 'cut' else srv.body
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if srv.mode == 'gone':  # half the promised bytes, then the connection closes for good
            self.wfile.write(body[:len(body)//2]); self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

@pytest.fixture(scope='module')
def archive(tmp_path_factory)->bytes:
    "A .tgz in the Oxford layout holding 4 generated pictures of each breed"
    gen = make_pets(tmp_path_factory.mktemp('gen')/'pets', n_per_breed=N_PER_BREED, max_side=200)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        for fn in sorted((gen/'images').iterdir()): tar.add(fn, arcname=f'oxford-iiit-pet/images/{fn.name}')
    return buf.getvalue()

def stats(body:bytes)->str:
    "`PETS_CHECK` for `body`: its size and the md5 of its first MiB, as fastdownload's path_stats gives them"
    return f'{len(body)}:{hashlib.md5(body[:2**20]).hexdigest()}'

@pytest.fixture
def home(tmp_path, monkeypatch, archive)->Path:
    "Fresh fastai and XDG cache folders, no PETS_PATH / PETS_PROFILE, and PETS_CHECK for the test archive"
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai'))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'cache'))
    monkeypatch.setenv('PETS_CHECK', stats(archive))
    for k in ('PETS_PATH', 'PETS_PROFILE', 'PETS_OVERRIDES'): monkeypatch.delenv(k, raising=False)
    fastai_cfg.cache_clear()  # fastai reads FASTAI_HOME once per process
    yield tmp_path/'fastai'
    fastai_cfg.cache_clear()

def left_behind(home:Path)->list[str]:
    "What a failed download left in fastai's folders (the lock file fastdownload keeps is not data)"
    return sorted(str(p.relative_to(home)) for p in home.glob('*/*') if not p.name.endswith('.lock'))

def test_download_extract_train(home, archive, monkeypatch):
    with PetsServer(archive) as srv:
        monkeypatch.setenv('PETS_URL', srv.url)
        prof, why = default_profile()
        assert (prof.name, prof.source, prof.n_per_breed) == ('sample', 'untar', CPU_PER_BREED), why
        assert 'online' in why and srv.url in why
        small = get_profile('smoke', source='untar', n_per_breed=3, epochs=1)
        path = get_pets(small)
        assert srv.requests == 1
        assert sorted(p.name for p in home.glob('*/*')) == [
            'oxford-iiit-pet', 'oxford-iiit-pet.checked', 'oxford-iiit-pet.tgz', 'oxford-iiit-pet.tgz.lock']
        assert len(list((pets_download_dir()/'images').iterdir())) == 37*N_PER_BREED
        assert len(list((path/'images').iterdir())) == 37*3
        learn = pets_learner(pets_dls(small), small)
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
        assert len(learn.dls.train_ds) + len(learn.dls.valid_ds) == 37*3
        assert 0 <= learn.recorder.values[-1][2] <= 1
        assert untar_pets() == pets_download_dir() and srv.requests == 1, 'the second call must use the cache'
    prof, why = default_profile()  # server gone, dataset cached: still the download route
    assert prof.source == 'untar' and 'cached' in why

def test_offline_rule_says_so(home, monkeypatch):
    monkeypatch.setenv('PETS_URL', 'http://127.0.0.1:9/oxford-iiit-pet.tgz')  # nothing listens on port 9
    prof, why = default_profile()
    assert prof.name == 'smoke' and 'NOT photos' in why and 'run again online' in why and 'PETS_PATH' in why

def test_archive_cut_short(home, archive, monkeypatch):
    with PetsServer(archive, 'cut') as srv:
        monkeypatch.setenv('PETS_URL', srv.url)
        with pytest.raises(PetsDownloadError, match='is damaged .*it was deleted'): untar_pets()
        assert left_behind(home) == [] and srv.requests == 1
    with PetsServer(archive) as srv:  # the next run downloads afresh and succeeds
        monkeypatch.setenv('PETS_URL', srv.url)
        assert len(list((untar_pets()/'images').iterdir())) == 37*N_PER_BREED

@pytest.mark.parametrize('check', ['wrong', 'fastai'])
def test_checksum_mismatch(home, archive, monkeypatch, check):
    if check == 'wrong': monkeypatch.setenv('PETS_CHECK', f'{len(archive)}:{"0"*32}')
    else: monkeypatch.delenv('PETS_CHECK')  # a mirror is held to fastai's record for URLs.PETS
    with PetsServer(archive) as srv:
        monkeypatch.setenv('PETS_URL', srv.url)
        with pytest.raises(PetsDownloadError, match=f'not the one expected.*PETS_CHECK={stats(archive)}'): untar_pets()
        assert left_behind(home) == [] and srv.requests == 1

def test_server_gone_mid_download(home, archive, monkeypatch):
    with PetsServer(archive, 'gone') as srv:
        monkeypatch.setenv('PETS_URL', srv.url)
        with pytest.raises(PetsDownloadError, match='(?s)(retrieval incomplete|closed before the whole archive arrived).*set PETS_PATH'): untar_pets()
        assert left_behind(home) == [] and srv.requests == 1

def test_cache_folder_not_writable(home, archive, monkeypatch, tmp_path):
    ro = tmp_path/'read-only'
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(ro, os.W_OK):  # root writes anywhere: a folder whose parent is a file cannot be written by anyone
        (tmp_path/'a-file').write_text('')
        ro = tmp_path/'a-file'
    monkeypatch.setenv('FASTAI_HOME', str(ro/'fastai'))
    fastai_cfg.cache_clear()
    with PetsServer(archive) as srv:
        monkeypatch.setenv('PETS_URL', srv.url)
        with pytest.raises(PetsDownloadError, match=f'Cannot write .*{ro.name}.*Set FASTAI_HOME to a folder you can write'):
            untar_pets()
        assert srv.requests == 0

def test_stopped_extraction_is_redone(home, archive, monkeypatch):
    with PetsServer(archive) as srv:
        monkeypatch.setenv('PETS_URL', srv.url)
        dest = untar_pets()
        victims = sorted((dest/'images').iterdir())[:10]
        for fn in victims: fn.unlink()
        dest.with_name(dest.name + '.checked').unlink()  # as if the run stopped before it finished the move
        assert len(list((untar_pets()/'images').iterdir())) == 37*N_PER_BREED
        assert srv.requests == 1, 'the archive was already there: no second download'
