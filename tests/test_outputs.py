"""Published outputs: every notebook's stored outputs come from `tools/docs/outputs.py` at `sample`, for its current
code, with no machine path, traceback or text progress bar; and the checker and the publishing command themselves
behave, on small notebooks made here."""
import json, os, subprocess, sys, tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'/'docs'))
import outputs as po
NBS = sorted((ROOT/'nbs').glob('*.ipynb'))

@pytest.mark.parametrize('fn', NBS, ids=[p.stem for p in NBS])
def test_stored_outputs_are_published(fn):
    nb = json.loads(fn.read_text())
    probs = po.stale(nb) + po.output_problems(nb)
    assert not probs, (f'{fn.name}: its stored outputs are not what readers should see:\n  ' + '\n  '.join(probs) +
                       f'\nRun `make outputs NB=nbs/{fn.name}` (PETS_PATH set to the sample photos) and commit the notebook.')

@pytest.mark.parametrize('fn', NBS, ids=[p.stem for p in NBS])
def test_pages_show_values_not_reprs(fn):
    probs = po.raw_reprs(json.loads(fn.read_text()))
    assert not probs, (f'{fn.name} shows Python reprs where a reader should see values (a number, a table):\n  ' + '\n  '.join(probs) +
                       f'\nDisplay plain values in those cells and run `make outputs NB=nbs/{fn.name}`.')

# ---- the checker, on notebooks made here

def _nb(*cells, meta=None)->dict:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb = json.loads(nbformat.writes(nb))
    if meta is not None: nb['metadata']['pets_fastai'] = meta
    return nb

def _code(src, *outs): return nbformat.v4.new_code_cell(src, outputs=list(outs))
def _stream(txt, name='stdout'): return nbformat.v4.new_output('stream', name=name, text=txt)
def _result(**data): return nbformat.v4.new_output('execute_result', data=data)

def test_code_hash_follows_code_cells_only():
    a = _nb(nbformat.v4.new_markdown_cell('# T'), _code('x = 1', _stream('1\n')))
    b = _nb(nbformat.v4.new_markdown_cell('# Other prose'), _code('x = 1'))
    c = _nb(nbformat.v4.new_markdown_cell('# T'), _code('x = 2'))
    assert po.code_hash(a) == po.code_hash(b) != po.code_hash(c)
    assert po.code_hash(_nb(_code('a'), _code('b'))) != po.code_hash(_nb(_code('ab')))  # cell boundaries count

def test_stale_names_missing_other_profile_and_changed_code():
    nb = _nb(_code('x = 1'))
    assert po.stale(nb) == ['no `pets_fastai` metadata: its outputs were not stored by the publishing command']
    nb['metadata']['pets_fastai'] = {'profile': 'sample', 'code_hash': po.code_hash(nb)}
    assert po.stale(nb) == ['no record of the library modules it ran with']
    nb['metadata']['pets_fastai']['library'] = po.library(nb)
    assert po.stale(nb) == []
    nb['metadata']['pets_fastai']['profile'] = 'smoke'
    assert po.stale(nb) == ["outputs from profile 'smoke', not 'sample'"]
    nb['metadata']['pets_fastai']['profile'] = 'sample'
    nb['cells'][0]['source'] = 'x = 2'
    assert po.stale(nb) == ['code cells changed since the outputs were stored']

def test_library_follows_the_modules_a_notebook_imports(monkeypatch, tmp_path):
    nb = _nb(_code('from pets_fastai.data import pets_dls\nimport pets_fastai.records'), _code('from pets_fastai import profiles, photos'))
    lib = po.library(nb)
    assert {'pets_fastai/data.py', 'pets_fastai/records.py', 'pets_fastai/profiles.py', 'pets_fastai/photos.py',
            'pets_fastai/__init__.py', 'pets_fastai/presize.py'} <= set(lib)  # presize: through data's `from .presize import`
    assert 'pets_fastai/cli.py' not in lib and not any(m.startswith('pets_fastai/results/') for m in lib)
    assert any(m.startswith('pets_fastai/results/') for m in po.library(_nb(_code('from pets_fastai.recipe import measured'))))
    # a module changed since: `stale` names it
    nb['metadata']['pets_fastai'] = {'profile': 'sample', 'code_hash': po.code_hash(nb), 'library': {**lib, 'pets_fastai/presize.py': 'older'}}
    assert po.stale(nb) == ['library changed since the outputs were stored: pets_fastai/presize.py']

def test_code_digest_follows_code_not_comments_or_docstrings(tmp_path):
    src = '''"Module docstring"
def f(x):  # a comment
    "Docstring"
    return x + 1
'''
    digest = lambda s: (tmp_path/'m.py').write_text(s) and po.code_digest(tmp_path/'m.py')
    base = digest(src)
    assert digest(src.replace('a comment', 'another comment').replace('"Docstring"', '"Other words"').replace('Module', 'Mod')) == base
    assert digest(src.replace('x + 1', 'x + 2')) != base and digest(src.replace('    "Docstring"\n', '')) == base

@pytest.mark.parametrize('mark', po.machine_marks())
def test_machine_paths_are_found_in_every_text_output(mark):
    for out in (_stream(f'saved to {mark}x/model.pkl\n', 'stderr'), _result(**{'text/plain': f"Path('{mark}x')"}),
                _result(**{'text/html': f'<td>{mark}x</td>', 'text/plain': '<table>'})):
        probs = po.output_problems(_nb(_code('f()', out)))
        assert len(probs) == 1 and probs[0].startswith('cell 0 (') and 'machine path' in probs[0], (mark, out, probs)

@pytest.mark.parametrize('txt', ['photos in ../shared/data/oxford-iiit-pet-sample', 'full list: ~/.cache/x/tmp_tmpmb2k767y_train.txt',
                                 "PhotoReport('tmpxue1o662': 0 image files)", 'about 26 minutes on this 2-core machine'])
def test_private_names_are_found_in_outputs_and_prose(txt):
    for cell in (_code('f()', _stream(txt + '\n')), _code('f()', _result(**{'text/plain': repr(txt)})), nbformat.v4.new_markdown_cell(txt)):
        probs = po.output_problems(_nb(cell))
        assert len(probs) == 1 and repr(po.PRIVATE.search(txt)[0]) in probs[0], (cell, probs)
    assert po.output_problems(_nb(nbformat.v4.new_markdown_cell('measured on 2 cores of an AMD EPYC; see tmp/ and shared memory'))) == []

def test_readme_names_nothing_private():
    assert not po.private_problems((ROOT/'README.md').read_text(), 'README.md')

def test_tracebacks_bars_and_other_profiles_are_found():
    err = nbformat.v4.new_output('error', ename='ValueError', evalue='bad', traceback=['...'])
    tb = _stream('Traceback (most recent call last):\n  File "x.py"\nValueError\n', 'stderr')
    bar = _stream(' |████| 50.00% [1/2 00:01<00:01]\n', 'stderr')
    tqdm = _stream(' 50%|█████     | 1/2 [00:01<00:01, 1.0it/s]\n', 'stderr')
    smoke = _result(**{'text/markdown': '| setting | value |\n|---|---|\n| profile | smoke |\n| device | cpu |'})
    found = [po.output_problems(_nb(_code('f()', o))) for o in (err, tb, bar, tqdm, smoke)]
    assert [len(p) for p in found] == [1, 1, 1, 1, 1], found
    assert 'traceback' in found[0][0] and 'traceback' in found[1][0]
    assert 'text progress bar' in found[2][0] and 'text progress bar' in found[3][0]
    assert "run_info says profile 'smoke'" in found[4][0]
    fine = _nb(_code('f()', _stream('epoch 0 done\n'), _result(**{'text/plain': "Path('models/model.pkl')", 'text/html': '<progress value="1" max="2"></progress> 50.00% [1/2 00:01&lt;00:01]'}),
                     _result(**{'text/markdown': '| setting | value |\n|---|---|\n| profile | sample |'})))
    assert po.output_problems(fine) == []  # relative paths, fastprogress's HTML bar, and `sample` pass

def test_refuses_without_photos_or_at_another_profile(monkeypatch, tmp_path):
    monkeypatch.delenv('PETS_PATH', raising=False)
    with pytest.raises(po.OutputsError, match='PETS_PATH is not set'): po.kernel_env(1)
    monkeypatch.setenv('PETS_PATH', str(tmp_path/'nowhere'))
    with pytest.raises(po.OutputsError, match='is not a folder'): po.kernel_env(1)
    monkeypatch.setenv('PETS_PATH', str(tmp_path))
    monkeypatch.setenv('PETS_PROFILE', 'smoke')
    with pytest.raises(po.OutputsError, match='PETS_PROFILE=smoke: published outputs come from `sample` only'): po.kernel_env(1)
    monkeypatch.setenv('PETS_PROFILE', 'sample')
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    env = po.kernel_env(2)
    assert env['PETS_PROFILE'] == 'sample' and 'MPLBACKEND' not in env and env['OMP_NUM_THREADS'] == str(max(1, (os.cpu_count() or 1) // 2))
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv('PETS_PATH', tmp_path.name)  # relative to where the command runs, as the Makefile's ../shared/...
    assert po.kernel_env(1)['PETS_PATH'] == str(tmp_path.resolve())

# ---- the publishing command, in a real kernel, on a notebook made here

BAR_CELL = '''from fastprogress.fastprogress import master_bar, progress_bar
mb = master_bar(range(2))
for epoch in mb:
    for b in progress_bar(range(3), parent=mb): pass
    mb.write([str(epoch), 'done'], table=True)'''

def _write(fn:Path, *srcs:str)->Path:
    cells = [nbformat.v4.new_markdown_cell('# Tiny\n> A notebook to publish.')] + [nbformat.v4.new_code_cell(s) for s in srcs]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}), fn)
    return fn

@pytest.fixture
def photos_env(monkeypatch, tmp_path):
    monkeypatch.setenv('PETS_PATH', str(tmp_path))
    monkeypatch.delenv('PETS_PROFILE', raising=False)
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))

def test_publish_stores_html_tables_skips_flagged_cells_and_passes_nbdev_clean(photos_env, tmp_path):
    (tmp_path/'nbs').mkdir()
    (tmp_path/'nbs'/'here.txt').write_text('found')
    fn = _write(tmp_path/'nbs'/'00_tiny.ipynb', 'import os\nprint(os.environ["PETS_PROFILE"], open("here.txt").read())',
                'print(os.path.relpath(os.environ["PETS_PATH"]), sorted(os.listdir(os.environ["PETS_PATH"])))', BAR_CELL, '#| slow\nprint("slow only")', '#| eval: false\nprint("never")')
    po.publish(fn)
    nb = json.loads(fn.read_text())
    assert po.stale(nb) == [] and po.output_problems(nb) == []
    meta = nb['metadata']['pets_fastai']
    assert meta['profile'] == 'sample' and meta['device'] in ('cpu', 'cuda') and meta['seconds'] > 0
    assert set(meta['versions']) == {'python', 'torch', 'torchvision', 'fastai', 'fastcore', 'timm', 'pets_fastai'}
    cells = nb['cells']
    assert ''.join(cells[1]['outputs'][0]['text']) == 'sample found\n'  # the kernel ran in the notebook's folder
    assert ''.join(cells[2]['outputs'][0]['text']) == f"{tmp_path.name} ['nbs']\n"  # the photos, linked beside it by their name
    assert not (tmp_path/'nbs'/tmp_path.name).exists()  # and the link removed after
    html = ''.join(''.join(o['data'].get('text/html', '')) for o in cells[3]['outputs'])
    assert '<table' in html and '<td>done</td>' in html  # fastprogress drew its HTML table
    assert cells[4]['outputs'] == [] and cells[5]['outputs'] == []  # flagged cells keep no output
    before = fn.read_text()
    subprocess.run([Path(sys.executable).parent/'nbdev-clean', '--fname', str(fn)], cwd=ROOT, check=True)
    assert fn.read_text() == before
    assert not list(fn.parent.glob('.*'))  # no temporary file left behind

def test_publish_writes_nothing_when_a_cell_fails_or_shows_a_path(photos_env, tmp_path):
    fn = _write(tmp_path/'01_fails.ipynb', 'x = 1', 'raise ValueError("bad photo")')
    before = fn.read_text()
    with pytest.raises(po.OutputsError, match=r'01_fails.ipynb, cell 2 \(.*\) failed, so nothing was written:(.|\n)*bad photo'): po.publish(fn)
    assert fn.read_text() == before
    fn = _write(tmp_path/'02_path.ipynb', f'print({tempfile.gettempdir() + "/x"!r})')
    before = fn.read_text()
    with pytest.raises(po.OutputsError, match=r"02_path.ipynb: nothing was written(.|\n)*cell 1 \(.*\): machine path"): po.publish(fn)
    assert fn.read_text() == before

def test_lesson_2_and_lesson_6_agree_on_lite0():
    "Lesson 2's three seeds (its page) and lesson 6's record of the same training of Lite0: intervals that overlap"
    sys.path.insert(0, str(ROOT/'tools'))
    from reproduce import headlines
    from pets_fastai.recipe import measured
    from pets_fastai.evidence import interval
    ours = headlines(json.loads((ROOT/'nbs'/'02_learner.ipynb').read_text()))['mean error of 3 seeds']
    rec = interval([r['error_rate'] for r in measured('seeds')[-1]['rows'] if r['arch'] == 'efficientnet_lite0'])
    assert ours['lo'] <= rec.hi and rec.lo <= ours['hi'], (ours, rec)

def test_raw_reprs_are_found_where_the_page_shows_them():
    shown = [_result(**{'text/plain': "[('Bengal', 'pug', np.int64(1))]"}), _stream('torch.return_types.topk(\nvalues=tensor([0.9]))\n'),
             _result(**{'text/plain': 'SuggestedLRs(minimum=0.005, valley=0.003)'}), _result(**{'text/html': '<td>np.float64(0.2)</td>', 'text/plain': 'x'}),
             _result(**{'text/plain': '<IPython.core.display.HTML object>'})]
    assert [len(po.raw_reprs(_nb(_code('f()', o)))) for o in shown] == [1] * len(shown)
    hidden = [_result(**{'text/html': '<table></table>', 'text/plain': "np.int64(1)"}), _result(**{'text/plain': "(Path('a_1.jpg'), 0.9054, 'Bengal')"}),
              _result(**{'text/plain': "{'error_rate': 0.337, 'wrong': '31 of 92 photos'}"})]
    assert [po.raw_reprs(_nb(_code('f()', o))) for o in hidden] == [[]] * len(hidden)
