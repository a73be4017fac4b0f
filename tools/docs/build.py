"""Build the documentation site into `_site/` from `nbs/*.ipynb` and the outputs stored in them, offline.

Each notebook is copied into `_proc/` and prepared there: nbdev directives are taken out, `#| hide` and
`#| default_exp` cells are dropped, progress bars are stripped from the stored outputs, and under the title go
an "Open in Colab" badge and a line saying which profile, device and versions produced the stored outputs
(read from the notebook's own `run_info` table). A stored output holding a Python traceback stops the build.
`api.md` is written from the `__all__` of every `pets_fastai` module. Sphinx (myst-nb, sphinx-book-theme,
config in `docs/`) renders `_proc/` into `_docs/html`, which then replaces `_site/`.

Pages are named as nbdev names them (`nbs/00_profiles.ipynb` becomes `profiles.html`), so the links nbdev
writes into the modules' docstrings point at real pages."""
import argparse, dataclasses, html, importlib, inspect, pkgutil, re, shutil, sys, tomllib, warnings
from itertools import groupby
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT/'docs'
PKG = 'pets_fastai'
IMAGES = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'}

class DocsError(Exception):
    "A notebook or module that the site cannot be built from; the message says which and what to do"

# ---- which notebooks, in which order, under which page names

def nb_key(fn:Path)->tuple:
    "Reading order: `index` first, then by the number in front of the name"
    if fn.stem == 'index': return (0, 0, '')
    m = re.match(r'(\d+)', fn.stem)
    return (1, int(m[1]) if m else 10**6, fn.stem)

def page_name(fn:Path)->str:
    "nbdev's page name for notebook `fn`: its stem without the number in front (`00_profiles` -> `profiles`)"
    return re.sub(r'^\d+[_-]', '', fn.stem)

def notebooks(nbs:Path)->list[Path]:
    "The notebooks in `nbs`, in reading order, checked for an index page and for page names that collide"
    fns = sorted(nbs.glob('*.ipynb'), key=nb_key)
    if not any(fn.stem == 'index' for fn in fns):
        raise DocsError(f'{nbs}/index.ipynb is missing: it is the home page of the site. Add it (nbdev keeps the '
                        'project overview there) and run `make docs` again.')
    seen = {}
    for fn in fns:
        if (name := page_name(fn)) in seen:
            raise DocsError(f'{seen[name].name} and {fn.name} would both become {name}.html: rename one of them.')
        seen[name] = fn
    return fns

# ---- nbdev directives

DIRECTIVE = re.compile(r'^\s*#\|\s*(.*?)\s*$')

def directives(src:str)->dict[str,str]:
    "The `#| name value` lines of a cell as {name: value}; Quarto's `#| echo: false` form too"
    out = {}
    for line in src.splitlines():
        if m := DIRECTIVE.match(line):
            name, _, value = m[1].replace(':', ' ', 1).partition(' ')
            if name: out[name.strip()] = value.strip()
    return out

def strip_directives(src:str)->str: return '\n'.join(l for l in src.splitlines() if not DIRECTIVE.match(l)).strip('\n')

# ---- stored outputs: progress bars out, tracebacks fatal

PROGRESS_HTML = re.compile(r'<div>\s*<progress\b.*?</progress>.*?</div>', re.S)  # fastprogress's bar
PROGRESS_STYLE = re.compile(r'<style>(?:(?!</style>).)*\bprogress\b(?:(?!</style>).)*</style>', re.S)  # and its CSS
PROGRESS_TEXT = re.compile(r'\d+(\.\d+)?%\s*\[\d+/\d+\s+[\d:]+(<[\d:]*)?|\d+%\|[^|\n]*\|\s*\d+/\d+\s*\[')
TQDM_WARNING = re.compile(r'^.*TqdmWarning: IProgress not found.*\n(\s+from \.autonotebook import.*\n)?', re.M)
WIDGET = 'application/vnd.jupyter.widget-view+json'
TRACEBACK = 'Traceback (most recent call last)'

def _text(x)->str: return ''.join(x) if isinstance(x, list) else x

def _visible(markup:str)->bool:
    "Does HTML `markup` show anything: text, or an image, drawing, table or embedded frame?"
    return bool(re.sub(r'<style\b.*?</style>|<[^>]*>|&nbsp;|\s', '', markup, flags=re.S)
                or re.search(r'<(img|svg|canvas|video|iframe|table)\b', markup))

def _clean_text(txt:str)->str:
    "Terminal text as a reader would see it: each line's last `\\r` rewrite, without progress-bar lines"
    lines = [l.rsplit('\r', 1)[-1] for l in txt.split('\n')]
    return TQDM_WARNING.sub('', '\n'.join(l for l in lines if not PROGRESS_TEXT.search(l)))

def clean_output(out:dict)->dict|None:
    "`out` without progress-bar noise, or None when nothing else was in it"
    if out['output_type'] == 'stream':
        txt = _clean_text(_text(out['text']))
        return {**out, 'text': txt} if txt.strip() else None
    if out['output_type'] not in ('display_data', 'execute_result'): return out
    data = dict(out['data'])
    data.pop(WIDGET, None)
    if 'text/html' in data:
        markup = _text(data['text/html'])
        cleaned = PROGRESS_STYLE.sub('', PROGRESS_HTML.sub('', markup))
        if cleaned != markup or not _visible(markup):  # a bar, its CSS, or a bar fastprogress emptied when done
            if _visible(cleaned): data['text/html'] = cleaned
            else: del data['text/html']
            if _text(data.get('text/plain', '')).startswith('<IPython.core.display.HTML object>'): del data['text/plain']
    if 'text/plain' in data and len(data) == 1:
        txt = _clean_text(_text(data['text/plain']))
        if not txt.strip(): return None
        data['text/plain'] = txt
    return {**out, 'data': data} if data else None

def check_traceback(out:dict, where:str):
    "Fail if stored output `out` holds a Python error"
    if out['output_type'] == 'error':
        raise DocsError(f'{where} has a stored error ({out.get("ename")}: {out.get("evalue")}). Fix the cell, '
                        're-run the notebook and save it with its outputs.')
    texts = [out.get('text', '')] + list(out.get('data', {}).values())
    if any(TRACEBACK in _text(t) for t in texts if isinstance(t, (str, list))):
        raise DocsError(f'{where} has a Python traceback in its stored output. Fix the cell, re-run the notebook '
                        'and save it with its outputs.')

# ---- what produced the outputs

def run_info_table(nb)->dict[str,str]|None:
    "The first stored `run_info` table of `nb` (`| setting | value |` markdown) as {setting: value}"
    for cell in nb.cells:
        for out in cell.get('outputs', []):
            md = out.get('data', {}).get('text/markdown', '')
            md = ''.join(md) if isinstance(md, list) else md
            if md.lstrip().startswith('| setting | value |'):
                rows = [re.match(r'\|\s*(.*?)\s*\|\s*(.*?)\s*\|$', l.strip()) for l in md.strip().splitlines()[2:]]
                return {m[1]: m[2] for m in rows if m}
    return None

def run_banner(info:dict[str,str])->str:
    "One line of HTML saying what produced a page's stored outputs"
    e = lambda k: html.escape(info.get(k, '?'))
    libs = ' · '.join(f'{k} {html.escape(v)}' for k, v in info.items() if k not in ('profile', 'device', 'seed'))
    note = ('' if info.get('profile') != 'smoke' else ' The <code>smoke</code> profile trains a tiny model on generated '
            'pictures: its numbers show that the code works, not how good a pet classifier can be '
            '(<a href="profiles.html">profiles</a>).')
    return (f'<div class="run-banner"><span class="run-banner-label">Stored outputs</span> from a run at profile '
            f'<strong>{e("profile")}</strong> on <strong>{e("device")}</strong>, seed {e("seed")} · {libs}.{note}</div>')

def colab_badge(repo:str, fn:Path)->str:
    "An 'Open in Colab' badge (a local SVG) for notebook `fn` of GitHub repository `repo`"
    slug = re.sub(r'^https://github\.com/', '', repo.rstrip('/'))
    url = f'https://colab.research.google.com/github/{slug}/blob/main/nbs/{fn.name}'
    return (f'<a class="colab-badge" href="{url}"><img src="_static/colab-badge.svg" alt="Open in Colab" '
            'width="117" height="20"></a>')

# ---- one notebook -> one prepared notebook

def _link_pages(md:str, names:dict[str,str])->str:
    "Point links to `NN_name.ipynb` (or `nbs/NN_name.ipynb`) at the prepared notebook `name.ipynb`"
    return re.sub(r'\]\((?:nbs/)?([\w-]+)\.ipynb(#[^)]*)?\)',
                  lambda m: f']({names.get(m[1], m[1])}.ipynb{m[2] or ""})', md)

def title_cell(src:str, where:str, need_summary:bool)->tuple[str,str,str]:
    "Title, summary and the rest of a first cell that starts `# Title` then `> summary`"
    lines = src.strip().splitlines()
    if not lines or not lines[0].startswith('# '):
        raise DocsError(f'{where}: the first cell must be a markdown cell starting with `# Title`, then `> summary`.')
    n = 1
    while n < len(lines) and lines[n].startswith('>'): n += 1
    summary = ' '.join(l[1:].strip() for l in lines[1:n])
    if need_summary and not summary:
        raise DocsError(f'{where}: add a one-line summary as `> ...` under the `# Title` of the first cell.')
    return lines[0][2:].strip(), summary, '\n'.join(lines[n:]).strip()

def prepare(fn:Path, repo:str, names:dict[str,str])->tuple[nbformat.NotebookNode, dict]:
    "The notebook at `fn`, ready for myst-nb, and facts about it for the site (title, summary, module, run info)"
    nb = nbformat.read(fn, as_version=4)
    where = f'nbs/{fn.name}'
    lesson = fn.stem != 'index'
    if not nb.cells or nb.cells[0].cell_type != 'markdown':
        raise DocsError(f'{where}: the first cell must be a markdown cell with `# Title` and `> summary`.')
    title, summary, rest = title_cell(nb.cells[0].source, where, need_summary=lesson)
    info, module = run_info_table(nb), None
    if lesson and info is None:
        raise DocsError(f'{where} has no stored `run_info` output, so its page cannot say what produced its outputs. '
                        'Run the notebook (it displays `run_info(prof)` near the top) and save it with its outputs.')
    cells = []
    for i, cell in enumerate(nb.cells[1:], start=2):
        if cell.cell_type == 'markdown':
            cell.source = _link_pages(cell.source, names)
            cells.append(cell); continue
        if cell.cell_type != 'code': continue
        d = directives(cell.source)
        if 'default_exp' in d: module = d['default_exp']
        if 'hide' in d or 'default_exp' in d: continue
        for out in cell.get('outputs', []): check_traceback(out, f'{where}, cell {i}')
        cell.outputs = [nbformat.from_dict(o) for o in map(clean_output, cell.get('outputs', [])) if o is not None]
        cell.source = strip_directives(cell.source)
        tags = set(cell.metadata.get('tags', []))
        if 'hide_input' in d or d.get('echo') == 'false': tags.add('remove-input')
        if 'hide_output' in d or d.get('output') == 'false': tags.add('remove-output')
        if tags: cell.metadata['tags'] = sorted(tags)
        if cell.source.strip() or cell.outputs: cells.append(cell)
    head = [f'# {title}']
    if summary: head.append(f'{{.summary}}\n{summary}')
    extra = ([colab_badge(repo, fn)] if lesson else []) + ([run_banner(info)] if info else [])
    if extra: head.append('<div class="page-meta">\n' + '\n'.join(extra) + '\n</div>')
    nb.cells = [nbformat.v4.new_markdown_cell('\n\n'.join(head))] + ([nbformat.v4.new_markdown_cell(_link_pages(rest, names))] if rest else []) + cells
    nb.metadata.pop('widgets', None)
    for j, c in enumerate(nb.cells): c['id'] = f'c{j}'
    return nb, dict(title=title, summary=summary, module=module, info=info)

def toctree(caption:str, entries:list[str])->str:
    "A hidden toctree: the sidebar lists `entries` (`title <doc>` or `doc`) under `caption`, in this order"
    return '```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: ' + caption + '\n\n' + '\n'.join(entries) + '\n```'

def lesson_entry(fn:Path, title:str, name:str)->str:
    "The sidebar entry of a lesson, numbered as its notebook is: `0. Profiles: ... <profiles>`"
    m = re.match(r'(\d+)', fn.stem)
    return f'{int(m[1])}. {title} <{name}>' if m else name

# ---- the API page

def _type(a)->str:
    "A short, readable form of annotation `a`: `Path | None`, `L`, `Profile`"
    if a is inspect.Parameter.empty: return ''
    s = a.__qualname__ if isinstance(a, type) and not getattr(a, '__args__', None) else inspect.formatannotation(a)
    return re.sub(r'\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)', r'\1', s)

def _repr(v)->str:
    "`repr(v)`, with strings holding backslashes (regular expressions) written as raw strings"
    if isinstance(v, str) and '\\' in v and "'" not in v and not v.endswith('\\'): return f"r'{v}'"
    return repr(v)

def _cell(s:str)->str: return s.replace('|', '\\|').replace('\n', ' ')

def signature(name:str, sig:inspect.Signature)->str:
    "`name(params) -> ret` with short type names, one parameter a line when it gets long"
    params = []
    for p in sig.parameters.values():
        if p.name in ('self', 'cls'): continue
        s = ('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + p.name
        if p.annotation is not p.empty: s += f':{_type(p.annotation)}'
        if p.default is not p.empty: s += f'={_repr(p.default)}'
        params.append(s)
    ret = f'->{_type(sig.return_annotation)}' if sig.return_annotation not in (sig.empty, None, type(None)) else ''
    one = f'{name}({", ".join(params)}){ret}'
    return one if len(one) <= 88 else f'{name}(\n' + ''.join(f'    {p},\n' for p in params) + f'){ret}'

def param_table(obj)->tuple[str,list[str]]:
    "A markdown table of `obj`'s parameters (type, default, docment) and the names left without a description"
    from fastcore.docments import docments
    try: docs = docments(obj, full=True)
    except (TypeError, ValueError): return '', []
    rows, missing = [], []
    for pname, d in docs.items():
        if pname in ('self', 'cls'): continue
        if pname == 'return':
            if d['anno'] in (inspect.Parameter.empty, None) and not d['docment']: continue
            rows.append(f'| *returns* | `{_cell(_type(d["anno"]) or "")}` |  | {_cell(d["docment"] or "")} |'); continue
        star = '**' if d.get('kind') == inspect.Parameter.VAR_KEYWORD else '*' if d.get('kind') == inspect.Parameter.VAR_POSITIONAL else ''
        if not d['docment'] and not star: missing.append(pname)
        typ = _type(d['anno'])
        dflt = '' if d['default'] is inspect.Parameter.empty else f'`{_cell(_repr(d["default"]))}`'
        rows.append(f'| `{star}{pname}` | {f"`{_cell(typ)}`" if typ else ""} | {dflt} | {_cell(d["docment"] or "")} |')
    if not any(not r.startswith('| *returns*') for r in rows) and not docs.get('return', {}).get('docment'):
        return '', missing  # the signature already says all there is
    return '| Parameter | Type | Default | Description |\n|---|---|---|---|\n' + '\n'.join(rows), missing

def _value(v)->str:
    "A short, stable description of constant `v` (no memory addresses)"
    if isinstance(v, dict): return f'`dict` with keys ' + ', '.join(f'`{k!r}`' for k in v)
    if isinstance(v, (tuple, list)) and v and all(isinstance(x, str) for x in v):
        more = f', … ({len(v)} in all)' if len(v) > 6 else ''
        return f'`{type(v).__name__}` of {len(v)} names: ' + ', '.join(f'`{x}`' for x in v[:6]) + more
    return f'`{_cell(re.sub(r" at 0x[0-9a-f]+", "", _repr(v))[:200])}`'

def api_label(mod:str, name:str, names:list[str])->str:
    "The target of `name` among public `names` of module `mod`; Sphinx ignores case, so `ABLATION` after `ablation` gets `-2`"
    same = [n for n in names if n.lower() == name.lower()]
    return f'api-{mod}.{name}' + (f'-{same.index(name) + 1}' if same.index(name) else '')

def html_id(label:str)->str:
    "The HTML id Sphinx gives target `label`"
    return re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')

def api_entry(name:str, obj, mod, names:list[str])->tuple[str,list[str]]:
    "The API page's section for public name `name` of module `mod`, and its undocumented parameters"
    parts, missing = [f'({api_label(mod.__name__, name, names)})=', f'### {name}'], []
    if inspect.isclass(obj):
        bases = ', '.join(b.__qualname__ for b in obj.__bases__ if b is not object)
        own_init = (dataclasses.is_dataclass(obj) or '__init__' in vars(obj)) and not issubclass(obj, BaseException)
        code = 'class ' + (signature(name, inspect.signature(obj)).replace('->None', '') if own_init else f'{name}({bases})' if bases else name)
        parts.append(f'```python\n{code}\n```')
        doc = vars(obj).get('__doc__')  # its own: `inspect.getdoc` would fall back to a base class's
        if doc and not (dataclasses.is_dataclass(obj) and doc.startswith(f'{obj.__name__}(')): parts.append(inspect.cleandoc(doc))
        if bases and own_init: parts.append(f'A subclass of {", ".join(f"`{b}`" for b in bases.split(", "))}.')
        if own_init:
            table, missing = param_table(obj)
            if table: parts.append(table)
        for mname, m in vars(obj).items():
            if mname.startswith('_') or not inspect.isfunction(m): continue
            parts.append(f'`{name}.{signature(mname, inspect.signature(m))}`' + (f': {inspect.getdoc(m)}' if inspect.getdoc(m) else ''))
    elif callable(obj):
        parts.append(f'```python\n{signature(name, inspect.signature(obj))}\n```')
        if doc := inspect.getdoc(obj): parts.append(doc)
        table, missing = param_table(obj)
        if table: parts.append(table)
    else: parts.append(_value(obj))
    return '\n\n'.join(parts), [f'{mod.__name__}.{name}({p})' for p in missing]

def public_names(mod)->list[str]:
    "`mod.__all__`, or when it has none, the names defined in `mod` that do not start with `_`"
    if hasattr(mod, '__all__'): return list(mod.__all__)
    return [n for n, o in vars(mod).items() if not n.startswith('_') and getattr(o, '__module__', None) == mod.__name__]

def api_page(pages:dict[str,dict])->tuple[str,list[str]]:
    "MyST markdown for the API page, module by module in lesson order, and the parameters without a description"
    sys.path.insert(0, str(ROOT))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # deprecations inside torch, printed on import
        pkg = importlib.import_module(PKG)
        for m in pkgutil.iter_modules(pkg.__path__, PKG + '.'): importlib.import_module(m.name)
    taught = {f'{PKG}.{p["module"]}': (doc, p['title']) for doc, p in pages.items() if p['module']}
    mods = [m.name for m in pkgutil.iter_modules(pkg.__path__, PKG + '.') if not m.name.rsplit('.', 1)[1].startswith('_')]
    mods.sort(key=lambda m: (list(taught).index(m) if m in taught else len(taught), m))
    out = ['# API reference', '{.summary}\nEvery public name of `pets_fastai`, module by module in lesson order: '
           'signature, docstring and what each parameter means.']
    missing = []
    for m in mods:
        mod = importlib.import_module(m)
        out.append(f'## {m}')
        if mod.__doc__: out.append(mod.__doc__.strip().split('\n')[0])
        if m in taught: out.append(f'Written in the lesson {{doc}}`{taught[m][1]} <{taught[m][0]}>`.')
        names = public_names(mod)
        for name in names:
            if not hasattr(mod, name):
                raise DocsError(f"{m}.__all__ names {name!r}, which {m} does not define: run `make export` to regenerate it.")
            entry, miss = api_entry(name, getattr(mod, name), mod, names)
            out.append(entry); missing += miss
    return '\n\n'.join(out) + '\n', missing

# ---- the markdown twin of each page (nbdev's module docstrings link to `<page>.html.md`)

def page_markdown(nb)->str:
    "Plain markdown for a prepared notebook: prose, code and text outputs"
    parts = []
    for cell in nb.cells:
        if cell.get('id') == 'toc': continue
        if cell.cell_type == 'markdown': parts.append(re.sub(r'^\{\.summary\}\n', '> ', cell.source, flags=re.M)); continue
        if 'remove-input' not in cell.metadata.get('tags', []): parts.append(f'```python\n{cell.source}\n```')
        for out in cell.outputs:
            data = out.get('data', {})
            if out['output_type'] == 'stream': parts.append(f'```\n{out["text"].rstrip()}\n```')
            elif '<table' in data.get('text/html', ''): parts.append(data['text/html'])
            elif 'text/markdown' in data: parts.append(data['text/markdown'])
            elif 'text/plain' in data and not any(k.startswith('image/') for k in data): parts.append(f'```\n{data["text/plain"].rstrip()}\n```')
    return '\n\n'.join(p for p in parts if p.strip()) + '\n'

# ---- the checks on the built site

EXTERNAL = re.compile(r'''<(?:script|img|iframe|source|link)\b[^>]*?\b(?:src|href)=["'](?:https?:)?//(?!127\.0\.0\.1|localhost)''', re.I)

def external_resources(site:Path)->list[str]:
    "Pages of `site` that would load a script, style, font or image from another host"
    bad = []
    for page in sorted(site.rglob('*.html')):
        txt = page.read_text(errors='replace')
        for m in EXTERNAL.finditer(txt):
            tag = txt[m.start():txt.find('>', m.start()) + 1]
            if re.search(r'rel=["\'](?:canonical|alternate)', tag): continue
            bad.append(f'{page.relative_to(site)}: {tag[:120]}')
    return bad

# ---- the build

def build(nbs:Path=ROOT/'nbs', out:Path=ROOT/'_site', work:Path=ROOT, quiet:bool=False)->Path:
    "Build the site from the notebooks in `nbs` into `out`, preparing them under `work/_proc` and `work/_docs`"
    from sphinx.cmd.build import build_main
    repo = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['urls']['Repository']
    fns = notebooks(nbs)
    names = {fn.stem: page_name(fn) for fn in fns}
    proc, tmp = work/'_proc', work/'_docs'
    shutil.rmtree(proc, ignore_errors=True); shutil.rmtree(tmp, ignore_errors=True)
    proc.mkdir(parents=True)
    for f in nbs.rglob('*'):  # pictures the notebooks' markdown points at, e.g. nbs/images/
        rel = f.relative_to(nbs)
        if f.suffix.lower() in IMAGES and not any(part.startswith(('.', '_')) for part in rel.parts):
            (proc/rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, proc/rel)
    pages, prepared = {}, {}
    errors = []
    for fn in fns:
        try: prepared[fn], pages[names[fn.stem]] = prepare(fn, repo, names)
        except DocsError as e: errors.append(str(e))
    if errors: raise DocsError('\n  '.join([f'{len(errors)} notebook(s) cannot become pages:'] + errors))
    api, missing = api_page({k: v for k, v in pages.items() if k != 'index'})
    (proc/'api.md').write_text(api)
    lessons = [lesson_entry(fn, pages[names[fn.stem]]['title'], names[fn.stem]) for fn in fns if fn.stem != 'index']
    for fn, nb in prepared.items():
        if fn.stem == 'index':
            toc = nbformat.v4.new_markdown_cell(toctree('Lessons', lessons) + '\n\n' + toctree('Reference', ['api']))
            toc['id'] = 'toc'
            nb.cells.append(toc)
        nbformat.write(nb, proc/f'{names[fn.stem]}.ipynb')
    html_dir = tmp/'html'
    args = ['-b', 'html', '-E', '-W', '--keep-going', '-c', str(DOCS), '-d', str(tmp/'doctrees'), str(proc), str(html_dir)]
    if quiet: args.insert(0, '-q')
    if build_main(args) != 0: raise DocsError('Sphinx reported the problems printed above: fix them in the notebooks named there.')
    for fn, nb in prepared.items(): (html_dir/f'{names[fn.stem]}.html.md').write_text(page_markdown(nb))
    (html_dir/'.nojekyll').write_text('')
    if bad := external_resources(html_dir):
        raise DocsError('These pages would fetch from other hosts, which the site must not need:\n  ' + '\n  '.join(bad))
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(html_dir), str(out))
    if missing:
        print('Parameters without a description (add a docment comment in the notebook):')
        for f, ps in groupby(missing, key=lambda s: s.split('(')[0]): print(f'  {f}: {", ".join(s.split("(")[1][:-1] for s in ps)}')
    print(f'Built {len(fns)} notebook pages and the API reference into {out}')
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--nbs', type=Path, default=ROOT/'nbs', help='folder of notebooks (default: nbs/)')
    p.add_argument('--out', type=Path, default=ROOT/'_site', help='where the site goes (default: _site/)')
    p.add_argument('--work', type=Path, default=ROOT, help='where `_proc/` and `_docs/` go (default: the repository)')
    p.add_argument('-q', '--quiet', action='store_true', help="only print Sphinx's warnings and errors")
    a = p.parse_args()
    try: build(a.nbs.resolve(), a.out.resolve(), a.work.resolve(), a.quiet)
    except DocsError as e: sys.exit(f'make docs: {e}')

if __name__ == '__main__': main()
