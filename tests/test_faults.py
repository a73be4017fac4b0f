"""The fault suite: every bad input of issue 15 through every command that can meet it, at the smoke scale.

Each fault is built here, at test time. A command must answer with a clear message (no traceback) and the
documented exit code, and leave its inputs byte for byte as they were. Commands run in-process through
`main` (an unexpected exception escapes it, which counts as a traceback); subprocesses only where a signal
or a real exit status matters. `TALLY` counts, per command, the faults tried and how many ended in a traceback."""
import errno, io, json, os, shutil, signal, subprocess, sys, time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, cli, shown
from pets_fastai.cli import main
from pets_fastai.images import huge_jpeg
from pets_fastai.photos import make_pets
from pets_fastai.verify import folder_hashes, img_bytes

SMALL = ('--profile', 'smoke', '--size', '32', '--item-size', '48', '--bs', '16')  # seconds per epoch on 2 cores
TALLY = {}

@pytest.fixture(scope='module', autouse=True)
def tally(request):
    "Print the faults tried and the tracebacks per command when the module ends, on pytest's terminal"
    yield TALLY
    rows = ''.join(f'\n  {cmd:<15} {n:>3} faults, {tb} tracebacks' for cmd, (n, tb) in sorted(TALLY.items()))
    with request.config.pluginmanager.getplugin('capturemanager').global_and_fixture_disabled():
        print(f'\nfault suite, per command:{rows}')

def run(cmd:str, *args, faults:int=1)->tuple[int, str, str]:
    "`main(args)`, counted as `faults` faults met by `cmd`: exit code, stdout, stderr; an escaping exception is a traceback"
    n, tb = TALLY.get(cmd, (0, 0))
    n += faults - 1
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err): rc = main(list(map(str, args)))
    except BaseException:
        TALLY[cmd] = (n + 1, tb + 1)
        raise
    TALLY[cmd] = (n + 1, tb + ('Traceback' in err.getvalue()))
    return rc, out.getvalue(), err.getvalue()

def photo(seed:int=0)->Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8))

GOOD = img_bytes(photo())
BAD = {'zero-byte': (b'', 'empty'), 'huge': (huge_jpeg(), 'too large'), 'truncated': (GOOD[:len(GOOD)//2], 'truncated'),
       'text': (b'not a photo at all\n', 'not an image')}
ODD = img_bytes(Image.fromarray(np.asarray(photo().convert('L'), np.uint16) * 257), 'PNG')  # 16-bit: usable, with a note

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "148 generated pictures plus one file per bad-photo fault and a 16-bit PNG, all named like photos"
    gen = make_pets(tmp_path_factory.mktemp('gen')/'pets', n_per_breed=4, max_side=160)
    root = tmp_path_factory.mktemp('faulty')/'photos'
    shutil.copytree(gen/'images', root)
    for i, (name, (data, _)) in enumerate(BAD.items()): (root/f'beagle_{90 + i}.jpg').write_bytes(data)
    (root/'pug_99.jpg').write_bytes(ODD)
    return root, folder_hashes(root)

@pytest.fixture(scope='module')
def trained(data, tmp_path_factory):
    "One tiny run on the faulty folder, shared by the predict and interpret faults"
    runs = tmp_path_factory.mktemp('runs')
    rc, out, err = run('train', 'train', *SMALL, '--epochs', '1', '--data', data[0], '--runs', runs, faults=len(BAD))
    assert rc == 0, err
    return runs, next(runs.iterdir()), out

def assert_skipped_bad_photos(out:str, data):
    "One summary line names the four unusable files by reason; the photos are untouched"
    lines = [l for l in out.splitlines() if l.startswith('Skipped ')]
    assert len(set(lines)) == 1 and lines[0].startswith('Skipped 4 of 153 image files'), out[-2000:]
    for _, why in BAD.values(): assert why in lines[0], lines[0]
    assert folder_hashes(data[0]) == data[1]

# ---------------------------------------------------------------- bad photos through every command that trains

def test_train_skips_bad_photos(trained, data):
    _, run_dir, out = trained
    rec = json.loads((run_dir/'record.json').read_text())
    assert rec['data']['n_train'] + rec['data']['n_valid'] == 149  # 148 pictures and the 16-bit PNG
    assert_skipped_bad_photos(out, data)

@pytest.mark.parametrize('cmd,args', [
    ('train --recipe', ('train', '--recipe', '--profile', 'smoke', '--bs', '16')),
    ('compare', ('compare', '--archs', 'xresnet_tiny', '--epochs', '1', *SMALL)),
    ('lr-find', ('lr-find', '--num-it', '30', *SMALL)),
], ids=['recipe', 'compare', 'lr-find'])
def test_training_commands_skip_bad_photos(data, tmp_path, monkeypatch, cmd, args):
    if cmd == 'train --recipe':  # the recipe at its own sizes would take minutes here: the smoke sizes instead
        import pets_fastai.recipe
        monkeypatch.setitem(pets_fastai.recipe.RECIPE, 'sz', 32)
        monkeypatch.setitem(pets_fastai.recipe.RECIPE, 'item_sz', 48)
        monkeypatch.setitem(pets_fastai.recipe.RECIPE, 'flip', False)
        monkeypatch.setitem(pets_fastai.recipe.RECIPE, 'epochs', 2)
    rc, out, err = run(cmd, *args, '--data', data[0], '--runs', tmp_path/'runs', faults=len(BAD))
    assert rc == 0, err[-2000:]
    assert_skipped_bad_photos(out, data)

# ---------------------------------------------------------------- predict: one answer per image

@pytest.mark.parametrize('fault', list(BAD))
def test_predict_bad_photo_gets_its_reason(trained, data, fault):
    fn = data[0]/f'beagle_{90 + list(BAD).index(fault)}.jpg'
    rc, out, err = run('predict', 'predict', fn, '--model', trained[1], '--json')
    (a,) = json.loads(out)['answers']
    assert (rc, a['ok'], a['image']) == (3, False, str(fn)) and BAD[fault][1] in a['error'], a
    assert folder_hashes(data[0]) == data[1]

def test_predict_16_bit_gets_a_note(trained, data):
    rc, out, err = run('predict', 'predict', data[0]/'pug_99.jpg', '--model', trained[1])
    assert rc == 0 and 'note: it has 16-bit pixels: PILImage.create clips them at 255' in out, out + err

def test_predict_good_good_broken(trained, data, tmp_path):
    good = sorted(data[0].glob('pug_[12].jpg'))
    rc, out, err = run('predict', 'predict', *good, data[0]/'beagle_92.jpg', tmp_path/'gone.jpg', '--model', trained[1], '--json')
    answers = json.loads(out)['answers']
    assert rc == 3 and [a['ok'] for a in answers] == [True, True, False, False], answers
    assert 'cannot be read (No such file or directory)' in answers[3]['error']

def test_predict_folder_expands_to_its_images(trained, data):
    rc, out, err = run('predict', 'predict', data[0], '--model', trained[1], '--json')
    answers = json.loads(out)['answers']
    assert rc == 3 and len(answers) == 153 and sum(not a['ok'] for a in answers) == len(BAD)
    assert folder_hashes(data[0]) == data[1]

# ---------------------------------------------------------------- model files: predict and interpret

@pytest.fixture(scope='module')
def bad_models(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp('models')
    pkl = (trained[1]/'model.pkl').read_bytes()
    (root/'truncated.pkl').write_bytes(pkl[:len(pkl)//2])
    (root/'text.pkl').write_text('these are notes, not a model\n')
    return {'truncated': (root/'truncated.pkl', 'truncated or damaged'),
            'text': (root/'text.pkl', "is not a model saved by fastai's export"),
            'missing': (root/'missing.pkl', 'no such model file')}

@pytest.mark.parametrize('fault', ['truncated', 'text', 'missing'])
@pytest.mark.parametrize('cmd', ['predict', 'interpret'])
def test_bad_model_files(bad_models, data, cmd, fault):
    fn, words = bad_models[fault]
    before = fn.read_bytes() if fn.exists() else None
    args = ('predict', data[0]/'pug_1.jpg') if cmd == 'predict' else ('interpret',)
    rc, out, err = run(cmd, *args, '--model', fn)
    assert rc == 1 and words in err and str(fn.name) in err, err
    assert (fn.read_bytes() if fn.exists() else None) == before

@pytest.mark.parametrize('cmd', ['predict', 'interpret'])
def test_no_model_yet(tmp_path, data, cmd):
    args = ('predict', data[0]/'pug_1.jpg') if cmd == 'predict' else ('interpret',)
    rc, out, err = run(cmd, *args, '--runs', tmp_path/'runs')
    assert rc == 1 and 'No trained model in' in err and 'pets-fastai train' in err, err

# ---------------------------------------------------------------- verify

def test_verify_reports_every_bad_photo(data, tmp_path):
    rc, out, err = run('verify', 'verify', data[0], '--report', tmp_path/'report.json', faults=len(BAD) + 1)
    rep = json.loads((tmp_path/'report.json').read_text())
    assert rc == 1 and rep['counts']['skipped'] == len(BAD), rep['counts']
    assert any('16-bit' in n['reason'] for n in rep['notes'] if n['file'] == 'pug_99.jpg')
    assert folder_hashes(data[0]) == data[1]

def test_verify_missing_folder(tmp_path):
    rc, out, err = run('verify', 'verify', tmp_path/'nowhere')
    assert rc == 1 and 'does not exist' in err

# ---------------------------------------------------------------- a runs folder that cannot be written

TRAINERS = {'train': ('train', '--epochs', '1', *SMALL), 'train --recipe': ('train', '--recipe', '--profile', 'smoke'),
            'compare': ('compare', '--archs', 'xresnet_tiny', '--epochs', '1', *SMALL),
            'lr-find': ('lr-find', '--num-it', '30', *SMALL)}

@pytest.mark.parametrize('cmd', list(TRAINERS))
def test_runs_folder_is_a_file(data, tmp_path, cmd):
    (tmp_path/'runs').write_text('a file where the runs folder should be')
    rc, out, err = run(cmd, *TRAINERS[cmd], '--data', data[0], '--runs', tmp_path/'runs')
    assert rc == 1 and 'Cannot write a new run in' in err and '--runs FOLDER' in err, err
    assert (tmp_path/'runs').read_text().startswith('a file')

@pytest.mark.parametrize('cmd', list(TRAINERS))
def test_read_only_runs_folder(data, tmp_path, monkeypatch, cmd):
    "A read-only file system (EROFS), simulated: root may write anywhere, so chmod cannot stand in for it"
    real_mkdir = Path.mkdir
    def read_only(self, *args, **kwargs):
        if self.is_relative_to(tmp_path/'runs'): raise OSError(errno.EROFS, 'Read-only file system', str(self))
        return real_mkdir(self, *args, **kwargs)
    monkeypatch.setattr(Path, 'mkdir', read_only)
    rc, out, err = run(cmd, *TRAINERS[cmd], '--data', data[0], '--runs', tmp_path/'runs')
    assert rc == 1 and 'Cannot write a new run in' in err and 'Read-only file system' in err, err
    assert not (tmp_path/'runs').exists() and 'epoch' not in out  # stopped before training

def test_disk_full_mid_training_leaves_no_record(trained, data, monkeypatch):
    "The second checkpoint write fails as on a full disk: a clear error, the first checkpoint intact, no record"
    import pets_fastai.checkpoint as api  # where RunCheckpoint writes checkpoint.pth
    runs, first, _ = trained
    before = {f.name: f.read_bytes() for f in first.iterdir()}
    real, calls = api.atomic_write, []
    def full(fn, write, overwrite=False):
        if Path(fn).name == 'checkpoint.pth':
            calls.append(fn)
            if len(calls) == 2: raise OSError(errno.ENOSPC, 'No space left on device', str(fn))
        return real(fn, write, overwrite)
    monkeypatch.setattr(api, 'atomic_write', full)
    rc, out, err = run('train', *TRAINERS['train'], '--data', data[0], '--runs', runs)
    assert rc == 1 and 'No space left on device' in err and '--resume' in err, err
    (new,) = [d for d in runs.iterdir() if d != first]
    assert sorted(p.name for p in new.iterdir()) == ['checkpoint.pth', 'state.json']  # no record, no temporary file
    assert {f.name: f.read_bytes() for f in first.iterdir()} == before  # the earlier run is untouched

# ---------------------------------------------------------------- Ctrl-C and SIGTERM, then --resume

LONG = ('train', '--epochs', '3', *SMALL)

def interrupted(data, runs:Path, sig)->tuple[subprocess.CompletedProcess, Path]:
    "Start `train` in a process, send it `sig` once its first epoch is saved; its result and run folder"
    env = {**os.environ, 'PETS_PROFILE': 'smoke', 'MPLBACKEND': 'Agg'}
    p = subprocess.Popen([sys.executable, '-m', 'pets_fastai.cli', *LONG, '--data', str(data[0]), '--runs', str(runs)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 600
    while not list(runs.glob('*/checkpoint.pth')) and p.poll() is None and time.monotonic() < deadline: time.sleep(0.2)
    p.send_signal(sig)
    out, err = p.communicate(timeout=600)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err), next(runs.iterdir())

@pytest.fixture(scope='module')
def uninterrupted(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp('whole')
    rc, out, err = run('train', *LONG, '--data', data[0], '--runs', runs, faults=0)
    assert rc == 0, err
    return json.loads(next(runs.iterdir()).joinpath('record.json').read_text())

@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['ctrl-c', 'sigterm'])
def test_interrupted_run_resumes_to_the_same_result(data, tmp_path, uninterrupted, sig):
    r, run_dir = interrupted(data, tmp_path/'runs', sig)
    n, tb = TALLY.get('train', (0, 0))
    TALLY['train'] = (n + 1, tb + ('Traceback' in r.stderr))
    assert r.returncode == 130 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert f'pets-fastai train --resume {shown(run_dir)}' in r.stderr and signal.Signals(sig).name in r.stderr, r.stderr[-500:]
    assert json.loads((run_dir/'state.json').read_text())['state'] == 'interrupted'
    assert not (run_dir/'record.json').exists()
    rc, out, err = run('train --resume', 'train', '--resume', run_dir)
    assert rc == 0, err
    rec = json.loads((run_dir/'record.json').read_text())
    # the same metrics epoch by epoch, within float rounding (exactly equal on this CPU)
    for ours, theirs in zip(rec['epochs'], uninterrupted['epochs'], strict=True):
        assert ours['error_rate'] == theirs['error_rate'] and ours['valid_loss'] == pytest.approx(theirs['valid_loss'], abs=1e-6)
    assert folder_hashes(data[0]) == data[1]

def test_resume_faults(tmp_path):
    rc, out, err = run('train --resume', 'train', '--resume', tmp_path)
    assert rc == 1 and 'is not a run folder' in err, err
    (tmp_path/'state.json').write_text(json.dumps({'state': 'starting'}))
    rc, out, err = run('train --resume', 'train', '--resume', tmp_path)
    assert rc == 1 and 'nothing to resume' in err, err

# ---------------------------------------------------------------- found on the way: a breed with no training photo

def test_breed_only_in_validation(tmp_path):
    "Two pictures per breed: the random split leaves some breeds without a training photo, which fastai finds mid-epoch"
    gen = make_pets(tmp_path/'gen', n_per_breed=2, max_side=160)
    rc, out, err = run('train', 'train', *SMALL, '--epochs', '1', '--data', gen/'images', '--runs', tmp_path/'runs')
    assert rc == 1 and 'have photos only in the validation split' in err and 'epoch' not in out, err

def test_export_fails_after_training_then_resume_saves_it(data, tmp_path, monkeypatch):
    "fastai 2.8.8 with plum-dispatch>=2.10 cannot pickle a learner (a lock in every transform): simulated here"
    from fastai.learner import Learner
    real = Learner.export
    def locked(self, *args, **kwargs): raise TypeError("cannot pickle '_thread.RLock' object")
    monkeypatch.setattr(Learner, 'export', locked)
    rc, out, err = run('train', *TRAINERS['train'], '--data', data[0], '--runs', tmp_path/'runs')
    (run_dir,) = (tmp_path/'runs').iterdir()
    assert rc == 1 and "pip install 'plum-dispatch<2.10'" in err and f'--resume {shown(run_dir, Path.cwd())}' in err, err
    assert not (run_dir/'record.json').exists()
    monkeypatch.setattr(Learner, 'export', real)
    rc, out, err = run('train --resume', 'train', '--resume', run_dir)
    rec = json.loads((run_dir/'record.json').read_text())
    assert rc == 0 and len(rec['epochs']) == 2 and len(rec['training']['fits']) == 2, err
