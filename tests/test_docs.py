"""The documentation site: `tools/docs/build.py` prepares notebooks as it should, and the built site, read in
headless Chromium over a local server, shows every page with its title, images and maths, with working links,
no console errors, no traceback and no request that leaves the machine. Screenshots go to $PETS_DOCS_SHOTS
(default: `<tmp>/shots`); $PETS_DOCS_NBS builds from another folder of notebooks than `nbs/`."""
import fcntl, functools, html, json, os, re, shutil, subprocess, sys, tempfile, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'/'docs'))
import build as bd, outputs as po

CHROMIUM = next((p for p in ('/usr/bin/chromium', shutil.which('chromium')) if p and Path(p).exists()), None)
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
SHOTS = Path(os.environ.get('PETS_DOCS_SHOTS', Path(tempfile.gettempdir())/'shots'))
NBS = Path(os.environ.get('PETS_DOCS_NBS', ROOT/'nbs'))

# ---- preparing notebooks (no Sphinx, no browser)

META = {'profile': 'sample', 'device': 'cpu', 'versions': {'torch': '2.14.1', 'fastai': '2.8.12'}, 'executed': '2026-12-01T09:00:00+00:00', 'seconds': 12.5}
BADGE = '[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/pets-fastai/pets_fastai/blob/main/nbs/00_profiles.ipynb)'

def _lesson(tmp_path, *cells, name='00_profiles.ipynb', meta=META)->Path:
    "A lesson notebook exporting `pets_fastai.profiles`, with a title cell (and badge), `cells`, and publishing metadata"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f'# Profiles\n> One variable, three scales.\n\n{BADGE}'),
                                         nbformat.v4.new_code_cell('#| default_exp profiles'), *cells])
    if meta: nb.metadata['pets_fastai'] = {**meta, 'code_hash': po.code_hash(json.loads(nbformat.writes(nb)))}
    nbformat.write(nb, tmp_path/name)
    return tmp_path/name

def test_page_names_follow_nbdev(tmp_path):
    for stem in ('10_extra', 'index', '00_profiles', '02_learner'): nbformat.write(nbformat.v4.new_notebook(), tmp_path/f'{stem}.ipynb')
    assert [bd.page_name(p) for p in bd.notebooks(tmp_path)] == ['index', 'profiles', 'learner', 'extra']
    (tmp_path/'index.ipynb').unlink()
    with pytest.raises(bd.DocsError, match='index.ipynb is missing'): bd.notebooks(tmp_path)

def test_prepare_shows_docs_and_hides_directives(tmp_path):
    fn = _lesson(tmp_path, nbformat.v4.new_code_cell('#| export\ndef get_profile(name=None): pass'),
                 nbformat.v4.new_code_cell('#| exports\ndef short_path(p): return p'),
                 nbformat.v4.new_code_cell('#| hide\nsecret = 1'),
                 nbformat.v4.new_code_cell('#| echo: false\nshown_output()'),
                 nbformat.v4.new_code_cell('#| fold: cell\nanswers()'), nbformat.v4.new_code_cell('#| fold: output\nrun_info()'),
                 nbformat.v4.new_markdown_cell('See [the data lesson](01_data.ipynb#labels).'))
    nb = bd.prepare(fn, {'01_data': 'data', '00_profiles': 'profiles'})
    srcs = [c.source for c in nb.cells]
    assert not any('#|' in s or 'secret' in s for s in srcs)
    head = srcs[0]
    assert head.startswith('# Profiles\n\n{.summary}\nOne variable, three scales.\n\n[![Open In Colab](_static/colab-badge.svg)]')  # its own badge, image local
    assert head.count('colab.research.google.com/github/') == 1
    assert head.endswith('profile <strong>sample</strong> on <strong>cpu</strong>, 2026-12-01.</summary>12 s · fastai 2.8.12 · torch 2.14.1</details>')  # versions folded
    assert 'def get_profile(name=None): pass' not in srcs  # an `export` cell shows as its card only, not twice
    doc = next(c for c in nb.cells if c.source.startswith('<a id="get_profile"></a>'))  # nbdev's add_show_docs, rendered by show_doc from the module itself
    assert doc.cell_type == 'markdown'
    i = srcs.index('def short_path(p): return p')  # an `exports` cell, whose code is the lesson: its card, then its code
    assert nb.cells[i-1].source.startswith('<a id="short_path"></a>') and nb.cells[i].cell_type == 'code'
    assert 'def get_profile(\n    name:str | None=None, # a profile name; default: `$PETS_PROFILE`, else the rule above' in doc.source and '#LNone' not in doc.source
    assert [c.metadata.get('tags') for c in nb.cells if c.source == 'shown_output()'] == [['remove-input']]
    assert [c.metadata.get('tags') for c in nb.cells if c.source in ('answers()', 'run_info()')] == [['hide-cell'], ['hide-output']]
    assert srcs[-1] == 'See [the data lesson](data.ipynb#labels).'

def test_fold_takes_cell_or_output(tmp_path):
    with pytest.raises(bd.DocsError, match=r'`#\| fold: input` on the cell `x = 1`: fold takes one of cell, output'):
        bd.prepare(_lesson(tmp_path, nbformat.v4.new_code_cell('#| fold: input\nx = 1')), {})

def test_banner_says_when_outputs_are_unpublished_or_stale(tmp_path):
    assert 'were not stored by <code>make outputs</code>' in bd.prepare(_lesson(tmp_path, meta=None), {}).cells[0].source
    fn = _lesson(tmp_path)
    nb = json.loads(fn.read_text())
    nb['cells'][1]['source'] = '#| default_exp profiles\nchanged = 1'
    fn.write_text(json.dumps(nb))
    assert 'these outputs are stale' in bd.prepare(fn, {}).cells[0].source

def test_prepare_refuses_tracebacks(tmp_path):
    err = nbformat.v4.new_code_cell('1/0', outputs=[nbformat.v4.new_output('error', ename='ZeroDivisionError', evalue='division by zero', traceback=[])])
    with pytest.raises(bd.DocsError, match=r'nbs/00_profiles.ipynb, cell 2 has a Python traceback'): bd.prepare(_lesson(tmp_path, err), {})
    tb = nbformat.v4.new_code_cell('f()', outputs=[nbformat.v4.new_output('stream', name='stderr', text='Traceback (most recent call last):\n  File "x"\n')])
    with pytest.raises(bd.DocsError, match='traceback'): bd.prepare(_lesson(tmp_path, tb), {})

# ---- the built site

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The built site, built once per test run: under pytest-xdist the first worker builds it, the others wait for it"
    base = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'): base = base.parent  # the folder the workers' temporary folders share
    work = base/'docs-site'
    with open(base/'docs-site.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work/'BUILT').exists():
            shutil.rmtree(work, ignore_errors=True)  # a build that failed part-way
            work.mkdir()
            r = subprocess.run([sys.executable, 'tools/docs/build.py', '--quiet', '--nbs', str(NBS), '--out', str(work/'_site'),
                                '--work', str(work)], cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert r.returncode == 0, f'make docs failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'
            (work/'BUILT').touch()
    return work/'_site'

def _pages()->list[tuple[Path, str]]:
    "Each notebook and its page, in reading order"
    return [(fn, bd.page_name(fn) + '.html') for fn in bd.notebooks(NBS)]

def test_site_has_a_page_per_notebook_and_no_remote_resources(site):
    for fn, page in _pages(): assert (site/page).exists() and (site/f'{page}.md').exists(), f'{fn.name} has no page {page}'
    assert (site/'_static/mathjax/tex-chtml.js').exists()
    assert bd.external_resources(site) == []
    for page in site.glob('*.html'):
        assert not re.search(r'(cdn\.|cdnjs|jsdelivr|unpkg\.com|googleapis|gstatic)', page.read_text()), page.name

def test_nbdev_doc_links_reach_their_show_doc(site):
    "Every link nbdev writes for a module-level name (`_modidx.py`: `profiles.html#get_profile`) has its page and anchor"
    from pets_fastai._modidx import d
    built = {bd.page_name(fn) for fn in bd.notebooks(NBS) if 'default_exp' in fn.read_text()}  # the notebooks that export a module
    links = [(sym, url) for mod in d['syms'].values() for sym, (url, _) in mod.items() if not re.search(r'\.|^_', sym.split('.', 2)[2])]
    assert ('pets_fastai.profiles.get_profile', 'profiles.html#get_profile') in links
    for sym, url in links:
        page, anchor = url.split('#')
        if page[:-5] not in built: continue
        assert f'id="{anchor}"' in (site/page).read_text(), f'{page} has no show_doc for {sym} (#{anchor})'
    text = html.unescape(re.sub(r'<[^>]+>', '', (site/'profiles.html').read_text()))
    assert 'def get_profile(\n    name:str | None=None, # a profile name; default: `$PETS_PROFILE`, else the rule above' in text

def _serve(site:Path):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

def _check_links(site:Path, page:str, hrefs:list[str])->list[str]:
    "Links of `page` into the site whose file or `#anchor` does not exist"
    bad = []
    for href in hrefs:
        u = urlparse(href)
        if u.scheme in ('http', 'https') and u.hostname not in ('127.0.0.1', 'localhost'): continue
        if u.scheme in ('mailto', 'javascript'): continue
        target = site/unquote(u.path).lstrip('/') if u.path else site/page
        if target.is_dir(): target = target/'index.html'
        if not target.is_file(): bad.append(f'{page}: {href} (no such file)'); continue
        if u.fragment and target.suffix == '.html' and not re.search(rf'id="{re.escape(unquote(u.fragment))}"', target.read_text()):
            bad.append(f'{page}: {href} (no such anchor)')
    return bad

# Output cells (table cells, text, images) whose right edge passes the article's: what a reader at this width cannot see
PAST_THE_EDGE = '''() => { const art = document.querySelector('article'); if (!art) return [];
  const right = art.getBoundingClientRect().right;
  return [...art.querySelectorAll('div.cell_output :is(td, th, pre, img)')]
    .filter(e => e.getBoundingClientRect().right > right + 2).map(e => (e.innerText || e.tagName).slice(0, 60)); }'''

@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium at /usr/bin/chromium: install Debian's with `apt-get install -y chromium`")
def test_pages_in_chromium(site):
    from playwright.sync_api import sync_playwright
    srv = _serve(site)
    base = f'http://127.0.0.1:{srv.server_address[1]}'
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems, remote = [], []
    def route(r):
        host = urlparse(r.request.url).hostname
        if host in ('127.0.0.1', 'localhost'): r.continue_()
        else: remote.append(r.request.url); r.abort()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = browser.new_page(viewport={'width': 1280, 'height': 1000})  # a laptop's window: every output fits it
            pg.route('**/*', route)
            where = {'page': ''}
            pg.on('console', lambda m: problems.append(f'{where["page"]}: console {m.type}: {m.text}') if m.type == 'error' else None)
            pg.on('pageerror', lambda e: problems.append(f'{where["page"]}: {e}'))
            pg.on('response', lambda r: problems.append(f'{where["page"]}: HTTP {r.status} {r.url}') if r.status >= 400 else None)
            for fn, page in _pages() + [(None, p) for p in ('try.html', 'search.html', 'genindex.html') if (site/p).exists()]:
                where['page'] = page
                pg.goto(f'{base}/{page}', wait_until='load')
                if fn is not None:
                    nb = nbformat.read(fn, as_version=4)
                    lines = nb.cells[0].source.splitlines()
                    title, summary = lines[0][2:].strip(), any(l.startswith('>') for l in lines)
                    h1 = pg.locator('h1').first.inner_text() if pg.locator('h1').count() else ''
                    if h1.rstrip('#¶ \n') != title: problems.append(f'{page}: title {h1!r}, notebook says {title!r}')
                    if summary and pg.locator('p.summary').count() != 1: problems.append(f'{page}: no summary line')
                    if fn.stem != 'index':
                        badges = pg.locator('a[href^="https://colab.research.google.com/"]:has(img)')
                        if badges.count() != nb.cells[0].source.count('colab.research.google.com/github/'):  # the title cell's own, once
                            problems.append(f'{page}: {badges.count()} Colab badges, its title cell has {nb.cells[0].source.count("colab.research.google.com/github/")}')
                        banner = pg.locator('.run-banner')
                        if banner.count() != 1 or 'profile' not in banner.inner_text(): problems.append(f'{page}: no run banner')
                pg.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
                pg.wait_for_function("[...document.images].every(i => i.complete)", timeout=15_000)
                broken = pg.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
                problems += [f'{page}: image not shown: {src[:100]}' for src in broken]
                if pg.locator('.math').count():
                    pg.wait_for_selector('mjx-container', timeout=15_000)
                    if pg.locator('mjx-merror').count(): problems.append(f'{page}: MathJax could not typeset a formula')
                if 'Traceback (most recent call last)' in pg.inner_text('body'): problems.append(f'{page}: shows a traceback')
                if wide := pg.evaluate(PAST_THE_EDGE): problems.append(f'{page}: {len(wide)} output cells run past the right edge at 1280 px, e.g. {wide[0]!r}')
                problems += _check_links(site, page, sorted(set(pg.eval_on_selector_all('a[href]', 'els => els.map(e => e.getAttribute("href"))'))))
                pg.screenshot(path=str(SHOTS/f'{Path(page).stem}.png'))
            where['page'] = 'search.html?q=profile'  # the search index works offline too
            pg.goto(f'{base}/search.html?q=profile', wait_until='load')
            pg.wait_for_selector('#search-results li', timeout=15_000)
            browser.close()
    finally: srv.shutdown()
    problems += [f'asked another host for {url}' for url in remote]
    assert problems == [], '\n'.join(problems)

# ---- the markdown twins and the prose around hidden cells

def test_markdown_twin_shows_tables_as_tables_and_no_display_reprs():
    df = '<table border="1" class="dataframe"><thead><tr><th></th><th>arch</th><th>error_rate</th></tr>' \
         '<tr><th>name</th><th></th><th></th></tr></thead><tbody><tr><th>a</th><td>resnet34</td><td>0.0805</td></tr></tbody></table>'
    out = lambda **d: nbformat.v4.new_output('execute_result', data=d)
    assert bd.output_markdown(out(**{'text/html': df, 'text/plain': 'arch error_rate\na resnet34 0.0805'})) == \
        '|  | arch | error_rate |\n|---|---|---|\n| name |  |  |\n| a | resnet34 | 0.0805 |'
    bar = out(**{'text/html': '<div><progress value="1"></progress></div>', 'text/plain': '<IPython.core.display.HTML object>'})
    assert bd.output_markdown(bar) == ''
    assert bd.output_markdown(out(**{'text/plain': '<Figure size 640x480 with 1 Axes>', 'image/png': 'iVBOR'})) == ''
    assert bd.output_markdown(nbformat.v4.new_output('stream', name='stdout', text='```python\nx = 1\n```\n')) == \
        '````\n```python\nx = 1\n```\n````'  # a fence inside the text gets a longer fence around it
    assert bd.output_markdown(out(**{'text/markdown': '| a |\n|---|\n| 1 |'})) == '| a |\n|---|\n| 1 |'

def _invisible(cell)->bool:
    "A cell that shows nothing on its page: hidden, or an exported definition that has no card (a constant)"
    src = ''.join(cell['source'])
    first = src.split('\n')[0]
    return first.startswith('#| hide') or (first.startswith('#| export') and not re.search(r'^(def|class|@)', src, re.M))

@pytest.mark.parametrize('fn', sorted(NBS.glob('*.ipynb')), ids=lambda p: p.stem)
def test_no_sentence_promises_what_the_page_hides(fn):
    "Prose ending with ':' is followed, past any invisible cells, by a code cell: the code or output it promises"
    cells = json.loads(fn.read_text())['cells']
    bad = []
    for i, c in enumerate(cells):
        if c['cell_type'] != 'markdown' or not ''.join(c['source']).rstrip().endswith(':'): continue
        nxt = next((n for n in cells[i+1:] if not _invisible(n)), None)
        if nxt is None or nxt['cell_type'] != 'code':
            bad.append(f"cell {i}: {''.join(c['source']).rstrip()[-80:]!r}")
    assert not bad, f'{fn.name}: sentences ending in a colon with nothing shown after them:\n  ' + '\n  '.join(bad)

def test_notebook_links_name_notebook_files():
    "A link between notebooks names the file (`00c_presize.ipynb`), so it works on GitHub and in Colab as well as on the site"
    bad = [f'{fn.name}: ]({m[1]}.ipynb' for fn in NBS.glob('*.ipynb') for c in nbformat.read(fn, as_version=4).cells if c.cell_type == 'markdown'
           for m in re.finditer(r'\]\(([\w-]+)\.ipynb', c.source) if not (NBS/f'{m[1]}.ipynb').exists()]
    assert not bad, bad
