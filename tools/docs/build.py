"""Build the documentation site into `_site/` from `nbs/*.ipynb` and the outputs stored in them, offline.

Each notebook goes through nbdev's own processors (`nbdev.process.NBProcessor`): `add_show_docs` puts a `show_doc`
after each exported definition, rendered here as markdown (nbdev's `_pre_docs` would need Quarto), `rm_export` hides
the source of `#| export` cells so that each export shows once, as its card (`#| exports` cells, whose code is the
lesson, show it after the card), and directives become myst-nb tags. Under the title goes a line saying which profile, device and versions produced the stored
outputs, read from the notebook's `pets_fastai` metadata (`tools/docs/outputs.py` writes it). A stored traceback
stops the build. Sphinx (myst-nb, sphinx-book-theme, config in `docs/`) renders `_proc/` into `_site/`. Pages are
named as nbdev names them (`nbs/00_profiles.ipynb` becomes `profiles.html`, anchors as in `_modidx.py`), so the links
nbdev writes into the modules' docstrings point at real pages; each page has a markdown twin, `profiles.html.md`."""
import html, importlib, json, re, shutil, sys
from html.parser import HTMLParser
from pathlib import Path

from docutils.nodes import make_id
from fastcore.nbio import mk_cell, nb2dict
from fastcore.script import call_parse
from nbdev.process import NBProcessor
from nbdev.processors import (add_show_docs, clean_magics, clean_show_doc, filter_stream_, hide_, hide_line, mv_exports, populate_language,
                              rm_export, rm_header_dash, strip_ansi)
from nbdev.showdoc import show_doc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT/'tools'/'docs'))
from outputs import KEY, TRACEBACK, code_hash

COLAB_SVG = 'https://colab.research.google.com/assets/colab-badge.svg'  # the badge in title cells; the site has its own copy

class DocsError(Exception):
    "A notebook the site cannot be built from; the message says which and what to do"

def page_name(fn:Path)->str:
    "nbdev's page name for notebook `fn`: its stem without the number in front (`00_profiles` -> `profiles`, `08a_checkpoint` -> `checkpoint`)"
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', fn.stem.lower())  # nbdev.config's rule

def notebooks(nbs:Path)->list[Path]:
    "The notebooks in `nbs`, `index` first, then by number"
    fns = sorted(nbs.glob('*.ipynb'), key=lambda fn: (fn.stem != 'index', fn.stem))
    if not fns or fns[0].stem != 'index': raise DocsError(f'{nbs}/index.ipynb is missing: it is the home page of the site.')
    return fns

def run_banner(nb:dict)->str:
    "One line of HTML saying what produced the stored outputs of notebook `nb` (as read), from its `pets_fastai` metadata"
    meta = nb['metadata'].get(KEY)
    if not meta: return ('<div class="run-banner stale">These outputs were not stored by <code>make outputs</code>, so '
                         'nothing says which profile or versions produced them.</div>')
    libs = ' · '.join(f'{k} {html.escape(v)}' for k, v in meta['versions'].items())
    stale = '' if meta['code_hash'] == code_hash(nb) else ' The code has changed since: these outputs are stale.'
    return (f'<details class="run-banner"><summary><span class="run-banner-label">Outputs</span> from profile '
            f'<strong>{html.escape(meta["profile"])}</strong> on <strong>{html.escape(meta["device"])}</strong>, '
            f'{meta["executed"][:10]}.{stale}</summary>{meta["seconds"]:.0f} s · {libs}</details>')

def title_cell(cell, banner:str):
    "The `# Title` / `> summary` cell as the page's header: title, summary line, the rest (a Colab badge), banner"
    lines = cell.source.strip().splitlines()
    title = [l for l in lines if l.startswith('# ')][:1]
    summary = ' '.join(l[1:].strip() for l in lines if l.startswith('>'))
    rest = [l for l in lines if not l.startswith(('# ', '>'))]
    cell.source = '\n\n'.join(p for p in title + [f'{{.summary}}\n{summary}' if summary else '', '\n'.join(rest).strip(), banner] if p)

def show_docs(mod):
    "A processor: each `show_doc(name)` cell becomes the markdown `show_doc` renders, after an anchor named as nbdev names it"
    def _f(cell):
        if cell.cell_type != 'code' or not (m := re.fullmatch(r'(?:#\|.*\n)*show_doc\((.+)\)', cell.source.strip())): return
        stored = [o['data']['text/markdown'] for o in cell.get('outputs', []) if 'text/markdown' in o.get('data', {})]
        try: md = ''.join(stored[0]) if stored else show_doc(eval(m[1], vars(mod)))._repr_markdown_()
        except NameError as e: raise DocsError(f'show_doc({m[1]}) of {mod.__name__} failed: {e}. An annotation names what the '
                                               'module does not import: import it in the notebook\'s export cell.') from None
        anchor = '' if make_id(m[1]) == m[1].lower() else f'<a id="{m[1].lower()}"></a>\n\n'  # Sphinx names `get_profile`'s heading `get-profile`
        md = re.sub(r'^\s*---\s*\n', '', md)  # nbdev's leading rule: docutils refuses one at the start of a section (after a heading)
        cell.cell_type, cell.source = 'markdown', anchor + re.sub(r'(?:#LNone)?\)\{target="_blank"[^}]*\}', '){.showdoc-source}', md)
        for k in ('outputs', 'execution_count'): cell.pop(k, None)
    return _f

FOLDS = {'cell': 'hide-cell', 'output': 'hide-output'}

def myst_tags(cell):
    "Quarto's `echo: false` / `output: false` as myst-nb's `remove-input` / `remove-output` tags; `fold: cell` or `fold: output` folded away"
    if cell.cell_type != 'code': return
    d = cell.directives_
    if (fold := d.get('fold')) is not None and fold not in FOLDS:
        code = next((l for l in cell.source.splitlines() if not l.startswith('#|')), '')
        raise DocsError(f'`#| fold: {fold}` on the cell `{code[:60]}`: fold takes one of {", ".join(FOLDS)}.')
    tags = {t for t, on in (('remove-input', d.get('echo') == 'false' or 'hide_input' in d),
                            ('remove-output', d.get('output') == 'false' or 'hide_output' in d), (FOLDS.get(fold), fold)) if on}
    if tags: cell.metadata['tags'] = sorted(tags | set(cell.metadata.get('tags', [])))

def check_tracebacks(fn:Path):
    "A processor: fail on a stored error or traceback"
    def _f(cell):
        for out in cell.get('outputs', []):
            if out['output_type'] == 'error' or TRACEBACK in json.dumps(out):
                raise DocsError(f'nbs/{fn.name}, cell {cell.idx_} has a Python traceback in its stored output: fix the cell '
                                f'and run `make outputs NB=nbs/{fn.name}`.')
    return _f

def links(names:dict[str,str]):
    "A processor: links to `NN_name.ipynb` point at the page `name.ipynb`; the Colab badge's image is the site's own"
    def _f(cell):
        if cell.cell_type != 'markdown': return
        src = re.sub(r'\]\((?:nbs/)?([\w-]+)\.ipynb(#[^)]*)?\)', lambda m: f']({names.get(m[1], m[1])}.ipynb{m[2] or ""})', cell.source)
        cell.source = src.replace(COLAB_SVG, '_static/colab-badge.svg')
    return _f

def prepare(fn:Path, names:dict[str,str]):
    "Notebook `fn` put through nbdev's processors and ours, ready for myst-nb"
    nbp = NBProcessor(fn)
    nb = nbp.nb
    if not nb.cells or nb.cells[0].cell_type != 'markdown' or not nb.cells[0].source.startswith('# '):
        raise DocsError(f'nbs/{fn.name}: the first cell must be a markdown cell: `# Title`, then `> summary`.')
    exp = next((c.directives_['default_exp'] for c in nb.cells if 'default_exp' in c.directives_), None)  # nbdev folds metadata's in
    mod = importlib.import_module(f'pets_fastai.{exp}') if exp else None
    procs = [check_tracebacks(fn), populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_, rm_header_dash,
             clean_show_doc, *([show_docs(mod)] if mod else []), rm_export, clean_magics, myst_tags, hide_, links(names), mv_exports]
    nbp.procs = [p(nb) if isinstance(p, type) else p for p in procs]
    nbp.process()
    title_cell(nb.cells[0], run_banner(json.loads(fn.read_text())) if fn.stem != 'index' else '')
    nb.cells = [c for c in nb.cells if c.cell_type == 'markdown' or c.source.strip() or c.get('outputs')]
    return nb

def toctree(caption:str, entries:list[str])->str: return f'```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {caption}\n\n' + '\n'.join(entries) + '\n```'

class _Tables(HTMLParser):
    "The rows of every `<table>` in an HTML output, as lists of cell texts"
    def __init__(self):
        super().__init__(); self.tables, self.cell = [], None
    def handle_starttag(self, tag, attrs):
        if tag == 'table': self.tables.append([])
        elif tag == 'tr' and self.tables: self.tables[-1].append([])
        elif tag in ('td', 'th') and self.tables and self.tables[-1]: self.cell = []
    def handle_endtag(self, tag):
        if tag in ('td', 'th') and self.cell is not None:
            self.tables[-1][-1].append(' '.join(''.join(self.cell).split()).replace('|', '\\|')); self.cell = None
    def handle_data(self, data):
        if self.cell is not None: self.cell.append(data)

def html_tables(src:str)->str:
    "The tables of HTML output `src` (pandas' `DataFrame`s, fastai's training tables) as markdown tables"
    p = _Tables(); p.feed(src)
    out = []
    for rows in filter(None, p.tables):
        rows = [r for r in rows if any(r)]  # pandas' index-name row is empty but for its first cell
        n = max(map(len, rows))
        rows = [r + [''] * (n - len(r)) for r in rows]
        out.append('\n'.join(['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * n] + ['| ' + ' | '.join(r) + ' |' for r in rows[1:]]))
    return '\n\n'.join(out)

def fenced(txt:str)->str:
    "`txt` in a code fence longer than any run of backticks inside it"
    fence = '`' * max(3, 1 + max((len(m) for m in re.findall(r'`+', txt)), default=0))
    return f'{fence}\n{txt}\n{fence}'

DISPLAY_REPR = re.compile(r'<IPython\.core\.display\.\w+ object>|<Figure size [^>]*>')

def output_markdown(o:dict)->str:
    "What the markdown twin shows of output `o`: its markdown, its tables, or its text; nothing for images and display objects"
    d = o.get('data', {})
    if o.get('text'): return fenced(''.join(o['text']).rstrip())
    if md := d.get('text/markdown'): return ''.join(md).strip()
    if '<table' in (htm := ''.join(d.get('text/html', ''))): return html_tables(htm)
    txt = ''.join(d.get('text/plain', '')).rstrip()
    if any(k.startswith('image/') for k in d) or not txt or DISPLAY_REPR.fullmatch(txt): return ''
    return fenced(txt)

def page_markdown(nb)->str:
    "Plain markdown for a prepared notebook: prose, code, and outputs as text and tables"
    parts = []
    for c in nb.cells:
        if c.cell_type == 'markdown': parts.append(c.source.replace('{.summary}\n', '> ')); continue
        if 'remove-input' not in c.metadata.get('tags', []): parts.append(fenced(c.source))
        parts += filter(None, map(output_markdown, c.get('outputs', [])))
    return '\n\n'.join(parts) + '\n'

EXTERNAL = re.compile(r'''<(?:script|img|iframe|source|link)\b[^>]*?\b(?:src|href)=["'](?:https?:)?//(?!127\.0\.0\.1|localhost)''', re.I)

def external_resources(site:Path)->list[str]:
    "Pages of `site` that would load a script, style, font or image from another host"
    return [f'{p.relative_to(site)}: {m[0][:120]}' for p in sorted(site.rglob('*.html')) for m in EXTERNAL.finditer(p.read_text(errors='replace'))
            if not re.search(r'rel=["\'](?:canonical|alternate)', m[0])]

def build(nbs:Path=ROOT/'nbs', out:Path=ROOT/'_site', work:Path=ROOT, runs:Path=ROOT/'runs', quiet:bool=False)->Path:
    "Build the site from the notebooks in `nbs` into `out`, preparing them under `work/_proc` and `work/_docs`"
    from sphinx.cmd.build import build_main
    fns = notebooks(nbs)
    names = {fn.stem: page_name(fn) for fn in fns}
    proc, tmp = work/'_proc', work/'_docs'
    for d in (proc, tmp): shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(nbs, proc, ignore=lambda d, fs: [f for f in fs if f.startswith(('.', '_')) or f.endswith(('.ipynb', '.txt'))])
    shutil.copytree(ROOT/'docs'/'_static', proc/'_static')  # images the cells point at, such as the Colab badge
    prepared = {fn: prepare(fn, names) for fn in fns}
    number = lambda fn: re.sub(r'^0(?=\d)', '', fn.stem.split('_')[0])  # 00_profiles is lesson 0, 08a_checkpoint 8a
    entry = lambda fn, nb: f'{number(fn)}. {nb.cells[0].source.splitlines()[0][2:]} <{names[fn.stem]}>'
    lessons = [entry(fn, nb) for fn, nb in prepared.items() if fn.stem != 'index' and not fn.stem.startswith('00')]
    reference = [entry(fn, nb) for fn, nb in prepared.items() if fn.stem.startswith('00')]  # the machinery lessons use
    has_try = (ROOT/'docs'/'try.md').exists() and (ROOT/'tools'/'docs'/'try_assets.py').exists()
    if has_try: shutil.copy(ROOT/'docs'/'try.md', proc/'try.md')
    for fn, nb in prepared.items():
        if fn.stem == 'index': nb.cells.append(mk_cell('\n\n'.join([toctree('Lessons', lessons), toctree('Reference', reference)]
                                                                   + [toctree('Try it', ['try'])] * has_try), 'markdown'))
        (proc/f'{names[fn.stem]}.ipynb').write_text(json.dumps(nb2dict(nb)))
    html_dir = tmp/'html'
    args = ['-b', 'html', '-E', '-W', '--keep-going', '-c', str(ROOT/'docs'), '-d', str(tmp/'doctrees'), str(proc), str(html_dir)]
    if build_main((['-q'] if quiet else []) + args) != 0: raise DocsError('Sphinx reported the problems printed above: fix them in the notebooks named there.')
    for fn, nb in prepared.items(): (html_dir/f'{names[fn.stem]}.html.md').write_text(page_markdown(nb))
    if has_try:
        from try_assets import copy_try_assets  # deploy's: the vendored onnxruntime-web and the latest model
        print('Try-it page:', copy_try_assets(html_dir/'_static', runs))
    (html_dir/'.nojekyll').write_text('')
    if bad := external_resources(html_dir): raise DocsError('These pages would fetch from other hosts:\n  ' + '\n  '.join(bad))
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(html_dir), str(out))
    print(f'Built {len(fns)} notebook pages into {out}')
    return out

@call_parse
def main(nbs:Path=ROOT/'nbs',   # folder of notebooks
         out:Path=ROOT/'_site', # where the site goes
         work:Path=ROOT,        # where `_proc/` and `_docs/` go
         runs:Path=ROOT/'runs', # run folders: the Try-it page shows the latest model
         quiet:bool=False):     # only print Sphinx's warnings and errors
    "Build the documentation site from the notebooks' stored outputs, offline"
    try: build(Path(nbs).resolve(), Path(out).resolve(), Path(work).resolve(), Path(runs).resolve(), quiet)
    except DocsError as e: sys.exit(f'make docs: {e}')
