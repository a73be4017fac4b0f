"""Publish notebook outputs: run notebooks in a real Jupyter kernel at `sample` and store what they show.

`python tools/docs/outputs.py [NB ...]` (`make outputs`, `make outputs NB=nbs/04_lr_find.ipynb`) runs each notebook
as Jupyter does: nbclient, an IPython kernel, the notebook's folder as working directory, so fastprogress draws
its HTML tables. Cells flagged with pyproject's `tst_flags` (`slow`, `cuda`) are left out exactly as nbdev's
tests leave them out (`nbdev.test.nb_test_cells`) and keep no output. The notebook is written back, cleaned as
`nbdev-clean` cleans it, only when every cell ran and no output holds a machine path, a temporary folder's name or a
traceback (`PRIVATE` checks the prose too); the kernel finds the photos linked beside the notebooks under their own
name (`photos_beside`), so pages show `oxford-iiit-pet-sample/…`, never where they lie; its metadata
key `pets_fastai` records the profile, device, versions, `code_hash` of its code cells, `library` (a hash of each
`pets_fastai` module its cells import, directly or through other modules: `stale` names the ones changed since), when
and how long."""
import argparse, ast, contextlib, datetime, hashlib, json, os, re, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from pets_fastai.records import atomic_write  # the project's one atomic writer

ROOT = Path(__file__).resolve().parents[2]
KEY, PROFILE = 'pets_fastai', 'sample'
TRACEBACK = 'Traceback (most recent call last)'
TEXT_BAR = re.compile(r'\d+\.\d+% \[\d+/\d+ \d\d:\d\d<|\d+%\|[^|\n]*\|\s*\d+/\d+')  # fastprogress's and tqdm's text bars
# What a page must not say about the machines it was made on, in outputs or prose: a folder outside the repository, a
# temporary folder's name (`tempfile`'s `tmp` + 8 characters), our hardware as "this machine"
PRIVATE = re.compile(r'\.\./shared\b|(?<![A-Za-z0-9])tmp[a-z0-9_]{8}(?![A-Za-z0-9])|\b2-core machine\b')
RUN_INFO_PROFILE = re.compile(r"'profile': '(\w+)',\s*'device'|\| profile \| (\w+) \|")
META_CODE = '''import json, platform, importlib.metadata as md
from fastai.torch_core import default_device
from pets_fastai.profiles import get_profile
import pets_fastai
print(json.dumps(dict(profile=get_profile().name, device=default_device().type, versions=dict(python=platform.python_version(),
    **{p: md.version(p) for p in ('torch', 'torchvision', 'fastai', 'fastcore', 'timm')}, pets_fastai=pets_fastai.__version__))))'''

class OutputsError(Exception):
    "A notebook whose outputs cannot be published; the message names it and says what to do"

def _src(x)->str: return ''.join(x) if isinstance(x, list) else x

def clean(nb:dict)->dict:
    "`nb` (a plain dict) as `nbdev-clean` leaves it, with this project's settings"
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    clean_nb(nb, False, cfg.get('allowed_metadata_keys') or [], cfg.get('allowed_cell_metadata_keys') or [],
             cfg.clean_ids, cfg.get('allowed_out_metadata_keys') or [])
    return nb

def code_hash(nb)->str:
    "sha256 of `nb`'s code-cell sources, in order, as `nbdev-clean` leaves them"
    return hashlib.sha256(json.dumps([_src(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']).encode()).hexdigest()

IMPORTS = re.compile(r'^\s*(?:from\s+(pets_fastai\.\w+|\.\w+)\s+import|from\s+(?:pets_fastai|\.)\s+import\s+([\w, ]+)|import\s+(pets_fastai\.\w+))', re.M)
LIB = ROOT/'pets_fastai'

def _imported(src:str)->set[str]:
    "Names of the `pets_fastai` modules that the code `src` imports"
    names = set()
    for mod, several, plain in IMPORTS.findall(src):
        names |= {m.strip() for m in several.split(',')} if several else {(mod or plain).split('.')[-1]}
    return {n for n in names if (LIB/f'{n}.py').exists()}

def code_digest(fn:Path)->str:
    "sha256 (12 digits) of module `fn`'s syntax tree without its docstrings: a change to comments or prose does not count"
    tree = ast.parse(fn.read_text())
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
           isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:12]

def library(nb)->dict[str, str]:
    "`code_digest` of each `pets_fastai` module `nb`'s code cells import, with the modules those import; sha256 of the records they read"
    code = '\n'.join(_src(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    todo, seen = _imported(code) | {'__init__'}, set()
    while todo:
        seen.add(name := todo.pop())
        todo |= _imported((LIB/f'{name}.py').read_text()) - seen
    fns = [LIB/f'{n}.py' for n in sorted(seen)]
    if any("/'results'" in t for t in [code] + [fn.read_text() for fn in fns]): fns += sorted((LIB/'results').glob('*.json'))  # the records it shows
    return {str(fn.relative_to(ROOT)): code_digest(fn) if fn.suffix == '.py' else hashlib.sha256(fn.read_bytes()).hexdigest()[:12] for fn in fns}

def machine_marks()->list[str]:
    "Text that gives away the machine an output came from: the checkout's folder, home, the temporary folder, installs"
    marks = {str(ROOT.parent) + '/', str(ROOT), os.path.expanduser('~') + '/', tempfile.gettempdir() + '/', 'site-packages', '/work/', '/root/'}
    return sorted(m for m in marks if m.strip('/'))

def _texts(out:dict)->list[str]:
    "Every text a reader could see in output `out`"
    if out['output_type'] == 'error': return [f"{out.get('ename')}: {out.get('evalue')}", TRACEBACK]
    return [_src(out.get('text', ''))] + [_src(v) for k, v in out.get('data', {}).items() if k.startswith('text/')]

def private_problems(txt:str, where:str)->list[str]:
    "`PRIVATE`'s finds in `txt`, each with its context"
    return [f'{where}: {m[0]!r} in {txt[max(0, m.start()-40):m.end()+40]!r}' for m in PRIVATE.finditer(txt)]

def output_problems(nb)->list[str]:
    "What in `nb`'s stored outputs and prose must not be published: machine paths, tracebacks, text progress bars, other profiles"
    probs, marks = [], machine_marks()
    for i, cell in enumerate(nb['cells']):
        if cell['cell_type'] == 'markdown': probs += private_problems(_src(cell['source']), f"markdown cell {i} ({cell.get('id', '?')})")
        for out in cell.get('outputs', []):
            for txt in _texts(out):
                where = f"cell {i} ({cell.get('id', '?')})"
                if hits := [m for m in marks if m in txt]:  # the longest says most: the checkout rather than its parent
                    m = max(hits, key=len); j = txt.find(m)
                    probs.append(f'{where}: machine path {m!r} in {txt[max(0, j-40):j+60]!r}')
                probs += private_problems(txt, where)
                if TRACEBACK in txt: probs.append(f'{where}: a traceback ({txt.strip().splitlines()[0][:100]!r})')
                if bar := TEXT_BAR.search(txt): probs.append(f'{where}: a text progress bar {bar[0]!r}')
                probs += [f'{where}: run_info says profile {p!r}, not {PROFILE!r}' for p in map(''.join, RUN_INFO_PROFILE.findall(txt)) if p != PROFILE]
    return list(dict.fromkeys(probs))  # an output's text/plain and text/markdown often say the same

# Python's reprs where a reader should see values: numpy scalars, `topk`'s named tuple, a one-line dataclass or namedtuple
RAW_REPR = re.compile(r'\bnp\.(?:u?int|float|bool_|complex)\w*\(|\btorch\.return_types\.\w+\(|<IPython\.core\.display\.\w+ object>|\A[A-Z]\w*\(\w+=')
SHOWN = ('text/html', 'image/svg+xml', 'image/png', 'image/jpeg', 'text/markdown', 'text/latex', 'text/plain')  # myst-nb's order for HTML

def raw_reprs(nb)->list[str]:
    "Raw reprs in what `nb`'s pages show of its outputs: streams, and each display's first type in myst-nb's order"
    probs = []
    for i, cell in enumerate(nb['cells']):
        for out in cell.get('outputs', []):
            data = out.get('data', {})
            shown = _src(out.get('text', '')) or _src(data.get(next((k for k in SHOWN if k in data), ''), ''))
            if m := RAW_REPR.search(shown):
                probs.append(f"cell {i} ({cell.get('id', '?')}): {m[0]!r} in {shown[max(0, m.start()-40):m.end()+40]!r}")
    return probs

def stale(nb)->list[str]:
    "Why `nb`'s stored outputs do not stand for its code at `sample`: no record, another profile, its code or library changed since"
    meta = nb['metadata'].get(KEY)
    if not meta: return [f'no `{KEY}` metadata: its outputs were not stored by the publishing command']
    probs = [] if meta.get('profile') == PROFILE else [f"outputs from profile {meta.get('profile')!r}, not {PROFILE!r}"]
    if meta.get('code_hash') != code_hash(nb): probs.append('code cells changed since the outputs were stored')
    if (was := meta.get('library')) is None: probs.append('no record of the library modules it ran with')
    elif changed := [m for m, h in library(nb).items() if was.get(m) != h]:
        probs.append(f"library changed since the outputs were stored: {', '.join(changed)}")
    return probs

def skipped_cells(fn:Path)->set[int]:
    "Indices of the code cells of `fn` that nbdev's test leaves out (flags in `tst_flags`, `eval: false`)"
    from nbdev.config import get_config
    flags, cells = get_config(ROOT).tst_flags.split(), json.loads(fn.read_text())['cells']
    try: from nbdev.test import nb_test_cells
    except ImportError:  # nbdev before 3.3.26 (the newest beside Colab's fastcore 2.2.12) has no nb_test_cells: its rule by hand
        ds = lambda c: [l[3:].strip() for l in ''.join(c['source']).splitlines() if l.startswith('#| ')]
        return {i for i, c in enumerate(cells) if c['cell_type'] == 'code'
                and any(d in flags or d.replace(' ', '') == 'eval:false' for d in ds(c))}
    run = {c.idx_ for c in nb_test_cells(fn, skip_flags=flags)}
    return {i for i, c in enumerate(cells) if c['cell_type'] == 'code' and i not in run}

def kernel_env(jobs:int)->dict:
    "The kernel's environment: the `sample` profile, the cores shared between `jobs` kernels, Jupyter's own plotting"
    if not os.environ.get('PETS_PATH'):
        raise OutputsError('PETS_PATH is not set: published outputs come from the real photos. Point it at them, e.g. '
                           '`PETS_PATH=../shared/data/oxford-iiit-pet-sample make outputs`.')
    if not Path(os.environ['PETS_PATH']).is_dir(): raise OutputsError(f"PETS_PATH={os.environ['PETS_PATH']} is not a folder of photos.")
    if os.environ.get('PETS_PROFILE', PROFILE) != PROFILE:
        raise OutputsError(f"PETS_PROFILE={os.environ['PETS_PROFILE']}: published outputs come from `{PROFILE}` only; unset PETS_PROFILE.")
    env = {k: v for k, v in os.environ.items() if k not in ('MPLBACKEND', 'IN_TEST')}  # as a reader's Jupyter has them
    return env | {'PETS_PROFILE': PROFILE, 'OMP_NUM_THREADS': str(max(1, (os.cpu_count() or 1) // jobs)),
                  'PETS_PATH': str(Path(env['PETS_PATH']).resolve())}  # the kernel runs in nbs/, not where the path was given

@contextlib.contextmanager
def photos_beside(folder:Path):
    "`$PETS_PATH` linked into `folder` under its own name, so pages show `oxford-iiit-pet-sample/…` and no folder of ours"
    src = Path(os.environ['PETS_PATH']).resolve()
    link = folder/src.name
    made = not link.is_symlink()
    if made: link.symlink_to(src, target_is_directory=True)  # fails, naming it, if something else has that name
    elif link.resolve() != src: raise OutputsError(f'{link} links elsewhere than PETS_PATH ({src}): remove it.')
    try: yield link
    finally:
        if made: link.unlink()

def execute(fn:Path, env:dict)->dict:
    "Run notebook `fn` in a fresh kernel and return it (a plain dict) with its outputs and `pets_fastai` metadata"
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    nb, skip, start = nbformat.read(fn, as_version=4), skipped_cells(fn), time.time()
    client = NotebookClient(nb, timeout=1800, kernel_name='python3', resources={'metadata': {'path': str(fn.parent)}})
    with client.setup_kernel(env=env):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code': continue
            if i in skip: cell.outputs, cell.execution_count = [], None; continue
            try: client.execute_cell(cell, i)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
                raise OutputsError(f'{fn.name}, cell {i} ({cell.id}) failed, so nothing was written:\n{e}') from None
        nb.cells.append(nbformat.v4.new_code_cell(META_CODE))
        meta = client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        nb.cells.pop()
    out = clean(json.loads(nbformat.writes(nb)))
    printed = next(o['text'] for o in meta.outputs if o.get('name') == 'stdout')
    out['metadata'][KEY] = {**json.loads(printed), 'code_hash': code_hash(out), 'library': library(out), 'threads': int(env['OMP_NUM_THREADS']),
                            'executed': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                            'seconds': round(time.time() - start, 1)}
    return out

def publish(fn:Path, jobs:int=1)->float:
    "Run `fn` at `sample` and store its outputs, or raise `OutputsError` and leave the file as it was; the seconds it took"
    from fastcore.nbio import nb2str
    fn = Path(fn).resolve()
    with photos_beside(fn.parent) as photos: nb = execute(fn, kernel_env(jobs) | {'PETS_PATH': str(photos)})
    if (prof := nb['metadata'][KEY]['profile']) != PROFILE: raise OutputsError(f'{fn.name} ran at profile {prof!r}, not {PROFILE!r}: nothing was written.')
    if probs := output_problems(nb):
        raise OutputsError(f'{fn.name}: nothing was written, since its outputs hold what readers must not see; fix these '
                           'at their source (paths relative or with `~`, warnings filtered where they start):\n  ' + '\n  '.join(probs))
    atomic_write(fn, lambda f: f.write(nb2str(nb).encode('utf-8')), overwrite=True)  # a reader never sees half a notebook
    return nb['metadata'][KEY]['seconds']

def presize_once(photos:Path):
    "Make the presized copies and pixel store of `photos` here, once: kernels side by side would each remake them and delete the other's"
    from pets_fastai.data import get_pet_images
    from pets_fastai.presize import presized, pixel_store
    from pets_fastai.profiles import get_profile
    item_sz = get_profile(PROFILE).item_sz
    pixel_store(presized(get_pet_images(photos), item_sz), item_sz)

def _publish(fn:Path, jobs:int)->tuple[Path, str|None, float]:
    try: return fn, None, publish(fn, jobs)
    except OutputsError as e: return fn, str(e), 0.

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('nbs', nargs='*', type=Path, help='notebooks to run (default: every nbs/*.ipynb)')
    p.add_argument('-j', '--jobs', type=int, default=2, help='kernels at a time (default 2: one a core here)')
    a = p.parse_args()
    fns = a.nbs or sorted((ROOT/'nbs').glob('*.ipynb'))
    jobs = max(1, min(a.jobs, len(fns)))
    try: kernel_env(jobs)
    except OutputsError as e: sys.exit(f'make outputs: {e}')
    start, failed = time.time(), []
    with photos_beside(ROOT/'nbs') as photos, ProcessPoolExecutor(jobs) as pool:  # one link for the kernels running side by side
        presize_once(photos)
        for fn, err, secs in pool.map(_publish, fns, [jobs]*len(fns)):
            if err: failed.append(fn.name); print(f'FAILED {err}', file=sys.stderr)
            else: print(f'{secs:7.1f} s  {fn.name}')
    print(f'{time.time() - start:7.1f} s  wall, {len(fns) - len(failed)} of {len(fns)} notebooks stored')
    if failed: sys.exit(f'make outputs: {", ".join(failed)} failed; their files are unchanged.')

if __name__ == '__main__': main()
