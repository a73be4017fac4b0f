import io, os, re, subprocess, sys, tarfile
from pathlib import Path

from pets_fastai.data import breed_labeller
from pets_fastai.photos import BREEDS, make_pets
from test_download import PetsServer, stats

ROOT = Path(__file__).resolve().parent.parent

def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, 'tools/docs/readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_llms_txt_and_package_docstring_list_every_module():
    "nbdev lists a module only when its docstring says more than the summary: an exported markdown cell in its notebook"
    import pets_fastai
    llms = (ROOT/'nbs'/'llms.txt').read_text()
    for fn in sorted((ROOT/'pets_fastai').glob('[!_]*.py')):
        mod = f'pets_fastai.{fn.stem}'
        nb = next((ROOT/'nbs').glob(f'*_{fn.stem}.ipynb'), None)
        fix = (f'add a markdown cell starting with `#| export` after the `#| default_exp` cell of nbs/{nb.name} (a few '
               'sentences on what the module offers and its main names), then run `make export`') if nb else 'give it a module docstring'
        assert f'{mod}]' in llms or f'`{mod}`' in llms, f'{mod} is missing from nbs/llms.txt: {fix}.'
        assert f'`{mod}`' in pets_fastai.__doc__, f'{mod} is missing from the package docstring: {fix}.'

def test_readme_links_reach_files():
    "Every relative link of README.md, as GitHub resolves it from the repository's root, names a file that is there"
    links = re.findall(r'\]\(([^)#\s]+)\)', (ROOT/'README.md').read_text())
    local = [l for l in links if not re.match(r'[a-z]+:', l)]
    assert any(l.startswith('nbs/0') for l in local), local  # the lesson table is among them
    missing = [l for l in local if not (ROOT/l).exists()]
    assert not missing, f'README.md links to files that do not exist: {missing}; fix the links in nbs/index.ipynb, then `make export`.'

def readme_python()->str:
    "The README's Python examples, in order, as one script"
    return '\n'.join(re.findall(r'```python\n(.*?)```', (ROOT/'README.md').read_text(), re.S))

def _run_readme(tmp_path:Path, **env)->subprocess.CompletedProcess:
    "The README's Python examples, run as a user who has set nothing would: fresh caches, no PETS_* but `env`"
    base = {k: v for k, v in os.environ.items() if not k.startswith('PETS_')}
    base |= dict(FASTAI_HOME=str(tmp_path/'fastai'), XDG_CACHE_HOME=str(tmp_path/'cache'), **env)
    tmp_path.mkdir(parents=True, exist_ok=True)
    code = readme_python() + "\nprint('photos', len(learn.dls.train_ds) + len(learn.dls.valid_ds))"
    return subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=base, capture_output=True, text=True, timeout=900)

N_BREEDS = 8  # the stand-in download holds a few breeds: the examples train on them as on all 37, in under half the time

def test_readme_python_examples_run_as_written(tmp_path):
    "Online (a server on 127.0.0.1 stands in for the download) the examples train; offline they say what to do"
    assert "get_profile('sample')" in readme_python() and 'fine_tune' in readme_python()
    gen = make_pets(tmp_path/'gen', n_per_breed=4, max_side=200)
    label = breed_labeller()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        for fn in sorted((gen/'images').iterdir()):
            if label(fn) in BREEDS[:N_BREEDS]: tar.add(fn, arcname=f'oxford-iiit-pet/images/{fn.name}')
    with PetsServer(buf.getvalue(), lifetime=600) as srv:
        r = _run_readme(tmp_path/'online', PETS_URL=srv.url, PETS_CHECK=stats(srv.body))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[-1] == f'photos {4 * N_BREEDS}', r.stdout  # the download's cut: all it had, under 20 a breed
    r = _run_readme(tmp_path/'offline', PETS_URL='http://127.0.0.1:9/oxford-iiit-pet.tgz')  # nothing listens on port 9
    assert r.returncode == 1 and 'PetsDownloadError: Could not download the Oxford-IIIT Pet dataset' in r.stderr, r.stderr[-3000:]
    assert 'set PETS_PATH' in r.stderr and 'connect to the internet' in r.stderr and '../shared' not in r.stderr
