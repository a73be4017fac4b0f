"""Give every notebook its "Open in Colab" badge and Colab install cell, and the README's lesson table its links.

`python tools/colab.py [NB ...]` fixes the notebooks (default: all of nbs/), `--check` only reports what it would
change and exits 1 if anything would. Running it twice changes nothing the second time. In each notebook:
- the title cell (`# Title`, `> summary`) ends in the badge, so GitHub's notebook viewer shows it too;
- after the title cell (and the `#| default_exp` cell) come a markdown cell asking for a GPU runtime and a hidden
  code cell that, in Colab only, installs what Colab lacks: this project with `--no-deps`, then each dependency
  of pyproject.toml that Colab does not ship, with Colab's own torch pinned so that pip can never upgrade it;
- in index.ipynb, each lesson row of the table links its notebook in Colab in a last column.
"""
import json, re, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What Colab's image ships (googlecolab/backend-info, pip-freeze.gpu.txt): fastai 2.8.8, fastcore 2.2.12,
# torch 2.11, torchvision 0.26, timm 1.0.28 and their own dependencies. The install cell never touches these.
COLAB_HAS = {'fastai', 'fastcore', 'fastdownload', 'fastprogress', 'torch', 'torchvision', 'timm', 'matplotlib',
             'numpy', 'pandas', 'pillow', 'scikit-learn', 'ipykernel', 'nbformat'}
BADGE = 'https://colab.research.google.com/assets/colab-badge.svg'
GPU_MD = ('**In Colab**, choose a GPU runtime (*Runtime → Change runtime type*) to run at `full`, on the whole dataset; '
          'the first code cell installs what Colab lacks.')
CELL_IDS = ('colab-gpu', 'colab-install')

def project(pyproject:Path=ROOT/'pyproject.toml')->dict:
    "pyproject.toml's `[project]` table"
    return tomllib.loads(pyproject.read_text())['project']

def repo_slug(proj:dict)->str:
    "`owner/name` of the GitHub repository in `[project.urls]`"
    return re.sub(r'^https://github\.com/', '', proj['urls']['Repository']).strip('/')

def colab_url(slug:str, name:str)->str: return f'https://colab.research.google.com/github/{slug}/blob/main/nbs/{name}'

def badge(slug:str, name:str)->str: return f'[![Open In Colab]({BADGE})]({colab_url(slug, name)})'

def colab_lacks(proj:dict)->list[str]:
    "The runtime dependencies, as pyproject.toml writes them, whose package Colab does not ship"
    name = lambda req: re.match(r'[A-Za-z0-9_.-]+', req)[0].lower().replace('_', '-')
    return [req for req in proj['dependencies'] if name(req) not in COLAB_HAS]

def install_src(proj:dict)->str:
    "The hidden first code cell: in Colab, install this project and what Colab lacks, pinning Colab's torch"
    slug, lacks = repo_slug(proj), colab_lacks(proj)
    return '\n'.join([
        '#| hide',
        'import sys, subprocess',
        "if 'google.colab' in sys.modules:  # Colab: add what it lacks; the pin on its own torch stops any upgrade",
        '    import torch',
        "    open('/tmp/colab-torch.txt', 'w').write(f'torch=={torch.__version__}\\n')",
        "    pip = [sys.executable, '-m', 'pip', 'install', '-q', '-c', '/tmp/colab-torch.txt']",
        f"    subprocess.run(pip + ['--no-deps', '{proj['name']} @ git+https://github.com/{slug}'], check=True)",
        f"    subprocess.run(pip + {lacks!r}, check=True)" if lacks else '    pass',
        "import pets_fastai  # before fastai: it filters a torch warning that fastai's import raises, which no lesson is about",
    ])

def _src(cell:dict)->str: return ''.join(cell['source'])

def _cell(kind:str, id:str, text:str)->dict:
    lines = text.split('\n')
    c = dict(cell_type=kind, id=id, metadata={}, source=[l + '\n' for l in lines[:-1]] + [lines[-1]])
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c

def _is_install(cell:dict)->bool: return cell['cell_type'] == 'code' and "'google.colab' in sys.modules" in _src(cell)
def _is_gpu_md(cell:dict)->bool: return cell['cell_type'] == 'markdown' and _src(cell).startswith('**In Colab**')

def fix_title(src:str, slug:str, name:str)->str:
    "`src` (a title cell) with exactly one badge for notebook `name`, on the line after the title and summary"
    lines = [l for l in src.rstrip().split('\n') if '](https://colab.research.google.com/' not in l]
    while lines and not lines[-1].strip(): lines.pop()
    n = 1
    while n < len(lines) and lines[n].startswith('>'): n += 1
    rest = [l for l in lines[n:]]
    while rest and not rest[0].strip(): rest.pop(0)
    return '\n'.join(lines[:n] + ['', badge(slug, name)] + ([''] + rest if rest else []))

def fix_table(src:str, slug:str)->str:
    "A markdown cell whose table rows link `NN_name.ipynb`, each with a last `Open in Colab` column"
    out = []
    for line in src.split('\n'):
        cells = line.split('|')
        m = re.search(r'\]\((\d\d[a-z]?_[\w-]+\.ipynb)\)', line)
        if line.startswith('|') and m:
            cells = [c for c in cells[1:-1] if 'colab.research.google.com' not in c]
            line = '|' + '|'.join(cells) + f'| [Open in Colab]({colab_url(slug, m[1])}) |'
        elif line.startswith('|') and re.match(r'^\|[-| ]+\|$', line) and out and out[-1].startswith('| #'):
            line = '|---' * (len(out[-1].split('|')) - 2) + '|'
        elif line.startswith('| #') and 'Colab' not in line:
            line = line + ' Colab |'
        out.append(line)
    return '\n'.join(out)

def fix_nb(nb:dict, name:str, proj:dict)->dict:
    "`nb` (notebook `name`, as JSON) with its badge, GPU note and install cell in place, as this tool makes them"
    slug = repo_slug(proj)
    cells = [c for c in nb['cells'] if not (_is_install(c) or _is_gpu_md(c))]
    title = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and _src(c).startswith('# ')), None)
    if title is None: raise ValueError(f'nbs/{name} has no title cell (a markdown cell starting with `# Title`).')
    cells[title]['source'] = _cell('markdown', '', fix_title(_src(cells[title]), slug, name))['source']
    at = max([title] + [i for i, c in enumerate(cells[:title+2]) if '#| default_exp' in _src(c)]) + 1
    cells[at:at] = [_cell('markdown', CELL_IDS[0], GPU_MD), _cell('code', CELL_IDS[1], install_src(proj))]
    if name == 'index.ipynb':
        for c in cells:
            if c['cell_type'] == 'markdown' and re.search(r'\]\(\d\d[a-z]?_[\w-]+\.ipynb\)', _src(c)):
                c['source'] = _cell('markdown', '', fix_table(_src(c), slug))['source']
    return {**nb, 'cells': cells}

def nb_text(nb:dict)->str: return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'

def main(args:list[str])->int:
    check = '--check' in args
    fns = [Path(a) for a in args if a != '--check'] or sorted((ROOT/'nbs').glob('*.ipynb'))
    proj, stale = project(), []
    for fn in fns:
        old = fn.read_text()
        new = nb_text(fix_nb(json.loads(old), fn.name, proj))
        if new == old: continue
        stale.append(fn)
        if not check: fn.write_text(new)
    if check and stale:
        print(f"{len(stale)} notebook(s) lack the Colab badge or install cell as tools/colab.py makes them: "
              f"{', '.join(f.name for f in stale)}. Run `python tools/colab.py` to fix them.", file=sys.stderr)
        return 1
    for fn in ([] if check else stale): print(f'fixed {fn.name}')
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
