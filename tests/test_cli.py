"The `pets-fastai` command line, run as a subprocess as a user or a script runs it, at the `smoke` scale."
import json, re, subprocess, sys
from pathlib import Path

import pytest
from helpers import assert_clean_failure, cli, shown

COMMANDS = ('train', 'lr-find', 'predict', 'interpret', 'compare', 'verify', 'export')
TINY = ('--n-per-breed', '4', '--epochs', '1')  # 148 generated pictures, 1 frozen + 1 unfrozen epoch

@pytest.mark.parametrize('cmd', ('',) + COMMANDS)
def test_help(cmd):
    r = cli(*[c for c in (cmd, '--help') if c])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: pets-fastai {cmd}".strip()), r.stdout[:200]

def test_version():
    import pets_fastai
    r = cli('--version')
    assert (r.returncode, r.stdout.strip()) == (0, f'pets-fastai {pets_fastai.__version__}'), r.stderr

def test_parsing_imports_no_torch():
    "`--help` and argument errors answer at once because the library is imported only when a command runs"
    r = subprocess.run([sys.executable, '-c', 'import sys, pets_fastai.cli as c; c.parser().parse_args(["train"]); '
                        'print(sorted(m for m in ("torch", "fastai") if m in sys.modules))'], capture_output=True, text=True)
    assert r.stdout.strip() == '[]', r.stdout + r.stderr

@pytest.mark.parametrize('args,msg', [
    (('train', '--lr', 'fast'), "argument --lr: 'fast' is neither a number nor 'find'"),
    (('train', '--epochs', '0'), "argument --epochs: '0' must be 1 or more"),
    (('fly',), "invalid choice: 'fly'"),
    ((), 'usage: pets-fastai'),
    (('predict',), 'the following arguments are required: IMAGE'),
    (('lr-find', '--num-it', '10'), '--num-it 10 is too few'),
    (('train', '--arch', 'resnet9'), "--arch 'resnet9' is unknown: use one of"),
    (('train', '--recipe', '--epochs', '3', '--size', '96'), "--recipe sets its own backbone, sizes and schedule: leave out --size, --epochs"),
], ids=['lr', 'epochs', 'command', 'none', 'no-image', 'num-it', 'arch', 'recipe'])
def test_bad_arguments_exit_2(args, msg):
    assert_clean_failure(cli(*args), 2, msg)

def test_missing_model_exits_1(tmp_path):
    img = tmp_path/'cat.jpg'
    img.write_bytes(b'')
    assert_clean_failure(cli('predict', img, '--runs', tmp_path), 1, f'No trained model in {shown(tmp_path)}/')
    assert_clean_failure(cli('predict', img, '--model', tmp_path/'nope.pkl'), 1, 'nope.pkl: no such model file')

def test_sample_without_pets_path_exits_1(tmp_path):
    r = cli('train', '--profile', 'sample', '--runs', tmp_path/'runs', env={'PETS_PATH': None, 'PETS_PROFILE': None})
    assert_clean_failure(r, 1, 'set PETS_PATH')
    assert not (tmp_path/'runs').exists()

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A tiny `train` run with the default, relative `runs` folder, as `make demo` runs it: its runs, process and record"
    cwd = tmp_path_factory.mktemp('cli')
    r = cli('train', *TINY, '--runs', 'runs', cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    (run_dir,) = (cwd/'runs').iterdir()
    return cwd/'runs', r, json.loads((run_dir/'record.json').read_text())

def test_train_saves_model_and_record(trained):
    "The model lands in the new run folder, also with a relative `runs` (it once landed in runs/<run>/runs/<run>)"
    runs, r, rec = trained
    model = runs.parent/re.search(r'^model: +(\S+)$', r.stdout, re.M).group(1)
    record = runs.parent/re.search(r'^record: +(\S+)$', r.stdout, re.M).group(1)
    assert model.is_file() and record.is_file() and model.parent == record.parent and model.parent.parent == runs
    assert 'generated Pets-like pictures' in r.stdout and 'NOT photos' in r.stdout
    err = float(re.search(r'^error rate ([0-9.]+) on 29 validation images', r.stdout, re.M).group(1))
    assert err == round(rec['final']['error_rate'], 4)
    assert (rec['kind'], rec['profile'], rec['arch'], rec['weights'], rec['interrupted']) == \
           ('train', 'smoke', 'xresnet_tiny', None, False)
    assert (rec['data']['n_train'], rec['data']['n_valid'], rec['data']['generated']) == (119, 29, True)
    assert [e['fit'] for e in rec['epochs']] == [0, 1] and rec['settings']['n_per_breed'] == 4
    assert rec['command'].startswith('pets-fastai train --n-per-breed 4')

def test_predict_on_trained_model(trained):
    from pets_fastai.photos import species
    runs, _, rec = trained
    imgs = sorted(Path(rec['data']['path'], 'images').glob('*.jpg'))[::50]
    r = cli('predict', *imgs, '--runs', runs, '--json')
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)['answers']
    assert [p['image'] for p in res] == list(map(str, imgs)) and all(p['ok'] for p in res)
    for p in res:
        probs = [b['prob'] for b in p['breeds']]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert all(b['species'] == species(b['breed']) for b in p['breeds'])
        assert p['species'] in ('cat', 'dog') and 0.5 <= p['species_prob'] <= 1

def test_predict_text_and_interpret(trained):
    runs, _, rec = trained
    (run_dir,) = runs.iterdir()
    img = sorted(Path(rec['data']['path'], 'images').glob('*.jpg'))[0]
    r = cli('predict', img, '--model', run_dir/'model.pkl', '--top-k', '2')
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(rf'^{re.escape(str(img))}: (cat|dog) \(\d\.\d\d\)$', r.stdout, re.M), r.stdout
    r = cli('interpret', '--runs', runs)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (run_dir/'confusion_matrix.png').is_file()
    err = float(re.search(r'error rate ([0-9.]+) on 29 validation images', r.stdout).group(1))
    assert abs(err - rec['final']['error_rate']) < 1e-4

def test_verify_reports_problems_and_leaves_files_alone(tmp_path):
    "`verify` names the bad file and its reason, exits 1 when something would be skipped, and changes nothing"
    import hashlib
    from PIL import Image
    Image.new('RGB', (300, 200), 'red').save(tmp_path/'beagle_1.jpg')
    (tmp_path/'pug_2.jpg').write_bytes(b'')
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    r = subprocess.run([sys.executable, '-m', 'pets_fastai.cli', 'verify', str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and 'pug_2.jpg' in r.stdout and 'empty' in r.stdout.lower(), r.stdout + r.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()} == before

def test_verify_missing_folder_exits_1(tmp_path, capsys):
    from pets_fastai.cli import main
    assert main(['verify', str(tmp_path/'nope')]) == 1
    err = capsys.readouterr().err
    assert 'does not exist' in err and 'Traceback' not in err

def test_export_onnx_beside_the_model_once(trained):
    "`export RUN --onnx` writes model.onnx and model.json beside model.pkl, and refuses to write over them"
    runs, _, _ = trained
    (run_dir,) = runs.iterdir()
    r = cli('export', run_dir, '--onnx')
    assert r.returncode == 0, r.stderr[-3000:]
    assert (run_dir/'model.onnx').stat().st_size > 0 and json.loads((run_dir/'model.json').read_text())['vocab']
    assert_clean_failure(cli('export', run_dir, '--onnx'), 1, 'model.onnx')
    assert_clean_failure(cli('export', run_dir/'nothing-here', '--onnx'), 1, 'nothing-here')

def test_verify_judges_against_the_training_size(tmp_path, monkeypatch, capsys):
    "`verify` notes photos smaller than the size the user trains at: `--size`, else the profile `train --data` picks"
    from PIL import Image
    from pets_fastai.cli import main
    Image.new('RGB', (300, 200), 'red').save(tmp_path/'beagle_1.jpg')
    for k in ('PETS_PROFILE', 'PETS_PATH', 'PETS_OVERRIDES'): monkeypatch.delenv(k, raising=False)
    assert main(['verify', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Checked against a training size of 160 px (the profile's"), out
    assert 'smaller than the training size' not in out  # 200 px is enough for sample's 160
    assert main(['verify', str(tmp_path), '--size', '256']) == 0
    assert 'is 300×200, smaller than the training size 256' in capsys.readouterr().out

def test_verify_prints_reasons_as_they_are(tmp_path, capsys):
    "The terminal gets the reasons unescaped, so a pattern copies right; the notebook's markdown escapes them"
    from PIL import Image
    from pets_fastai.cli import main
    from pets_fastai.verify import scan_photos
    Image.new('RGB', (300, 300), 'red').save(tmp_path/'beagle.jpg')  # no number: the pattern's advice names it
    assert main(['verify', str(tmp_path), '--size', '64']) == 1
    assert r"(pattern r'^(.+)_\d+\.jpg$')" in capsys.readouterr().out
    assert r"(pattern r'^(.+)\_\\d+\\.jpg\$')" in scan_photos(tmp_path)._repr_markdown_()
