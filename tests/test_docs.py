"""The documentation site: `tools/build_docs.py` prepares notebooks as it should, and the built site, read in
headless Chromium over a local server, shows every page with its title, images and maths, with working links,
no console errors, no traceback and no request that leaves the machine. Screenshots go to $PETS_DOCS_SHOTS
(default: `<tmp>/shots`); $PETS_DOCS_NBS builds from another folder of notebooks than `nbs/`."""
import ast, fcntl, functools, html, importlib.util, os, re, shutil, subprocess, sys, tempfile, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location('build_docs', ROOT/'tools'/'build_docs.py')
bd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bd)

CHROMIUM = next((p for p in ('/usr/bin/chromium', shutil.which('chromium')) if p and Path(p).exists()), None)
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
SHOTS = Path(os.environ.get('PETS_DOCS_SHOTS', Path(tempfile.gettempdir())/'shots'))
NBS = Path(os.environ.get('PETS_DOCS_NBS', ROOT/'nbs'))
REPO = 'https://github.com/pets-fastai/pets_fastai'

# ---- preparing notebooks (no Sphinx, no browser)

RUN_INFO = '| setting | value |\n|---|---|\n| profile | smoke |\n| device | cpu |\n| seed | 42 |\n| torch | 2.9 |'
BAR = ("\n<style>\n    /* Turns off some styling */\n    progress {\n        border: none;\n    }\n</style>\n")
BAR_DIV = ("<div>\n  <progress value='2' class='' max='2' style='width:300px; height:20px; vertical-align: middle;'>"
           "</progress>\n  100.00% [2/2 00:03&lt;00:00]\n</div>")
STYLE_11 = '<style>\n    progress { appearance: none; border: none; }\n    progress::-webkit-progress-bar { background: #e0e0e0; }\n</style>'
TABLE = '<table border="1" class="dataframe">\n<thead><tr><th>epoch</th><th>train_loss</th></tr></thead>\n</table>'

def _out(**data): return nbformat.v4.new_output('display_data', data=data)

def _lesson(tmp_path, *cells, name='03_loss.ipynb')->Path:
    "A lesson notebook with a title cell, a `run_info` output and `cells`"
    ri = nbformat.v4.new_code_cell('run_info(prof)', outputs=[nbformat.v4.new_output('execute_result', data={'text/markdown': RUN_INFO})])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Losses\n> Why cross-entropy.\n\nFirst, the [data](nbs/01_data.ipynb).'),
                                         nbformat.v4.new_code_cell('#| default_exp loss'), ri, *cells])
    nbformat.write(nb, tmp_path/name)
    return tmp_path/name

def test_api_targets_are_unique_ignoring_case():
    names = ['ablation', 'ABLATION', 'RECIPE']
    assert [bd.html_id(bd.api_label('pets_fastai.recipe', n, names)) for n in names] == [
        'api-pets-fastai-recipe-ablation', 'api-pets-fastai-recipe-ablation-2', 'api-pets-fastai-recipe-recipe']

def test_page_names_follow_nbdev():
    test = [Path('nbs/00_profiles.ipynb'), Path('nbs/index.ipynb'), Path('nbs/10_extra.ipynb'), Path('nbs/02_learner.ipynb')]
    assert [bd.page_name(p) for p in sorted(test, key=bd.nb_key)] == ['index', 'profiles', 'learner', 'extra']

def test_notebooks_need_an_index(tmp_path):
    _lesson(tmp_path)
    with pytest.raises(bd.DocsError, match='index.ipynb is missing'): bd.notebooks(tmp_path)

def test_progress_bars_go_tables_stay():
    assert bd.clean_output(_out(**{'text/html': BAR, 'text/plain': '<IPython.core.display.HTML object>'})) is None
    assert bd.clean_output(_out(**{'text/html': BAR_DIV, 'text/plain': '<IPython.core.display.HTML object>'})) is None
    assert bd.clean_output(_out(**{'text/html': STYLE_11, 'text/plain': '<IPython.core.display.HTML object>'})) is None
    assert bd.clean_output(_out(**{'text/html': '', 'text/plain': '<IPython.core.display.HTML object>'})) is None  # a finished bar
    assert bd.clean_output(_out(**{'text/html': '<img src="data:image/png;base64,iVBO">'})) is not None
    kept = bd.clean_output(_out(**{'text/html': BAR_DIV + '\n' + TABLE}))
    assert kept['data']['text/html'].strip() == TABLE
    stream = nbformat.v4.new_output('stream', name='stderr', text=' |████| 50.00% [1/2 00:01<00:01]\r |████████| 100.00% [2/2 00:02<00:00]\nepoch 0 done\n')
    assert bd.clean_output(stream)['text'] == 'epoch 0 done\n'
    assert bd.clean_output(nbformat.v4.new_output('execute_result', data={'text/plain': '(37, 12)'}))['data'] == {'text/plain': '(37, 12)'}

def test_prepare_strips_directives_and_hidden_cells(tmp_path):
    fn = _lesson(tmp_path, nbformat.v4.new_code_cell('#| export\ndef f(): pass'),
                 nbformat.v4.new_code_cell('#| hide\nsecret = 1'),
                 nbformat.v4.new_code_cell('#| echo: false\nshown_output()'),
                 nbformat.v4.new_markdown_cell('See [the data lesson](01_data.ipynb#labels).'))
    nb, facts = bd.prepare(fn, REPO, {'01_data': 'data', '03_loss': 'loss'})
    assert (facts['title'], facts['summary'], facts['module'], facts['info']['profile']) == ('Losses', 'Why cross-entropy.', 'loss', 'smoke')
    srcs = [c.source for c in nb.cells]
    assert not any('#|' in s or 'secret' in s for s in srcs)
    assert 'def f(): pass' in srcs
    assert srcs[1] == 'First, the [data](data.ipynb).'  # the title cell's prose stays, its link points at the page
    assert [c.metadata.get('tags') for c in nb.cells if c.source == 'shown_output()'] == [['remove-input']]
    assert srcs[-1] == 'See [the data lesson](data.ipynb#labels).'
    head = srcs[0]
    assert head.startswith('# Losses\n\n{.summary}\nWhy cross-entropy.')
    assert f'https://colab.research.google.com/github/pets-fastai/pets_fastai/blob/main/nbs/03_loss.ipynb' in head
    assert 'src="_static/colab-badge.svg"' in head and 'profile <strong>smoke</strong> on <strong>cpu</strong>' in head

def test_prepare_refuses_tracebacks_and_missing_run_info(tmp_path):
    err = nbformat.v4.new_code_cell('1/0', outputs=[nbformat.v4.new_output('error', ename='ZeroDivisionError', evalue='division by zero', traceback=[])])
    with pytest.raises(bd.DocsError, match=r'nbs/03_loss.ipynb, cell 4 has a stored error \(ZeroDivisionError'):
        bd.prepare(_lesson(tmp_path, err), REPO, {})
    tb = nbformat.v4.new_code_cell('f()', outputs=[nbformat.v4.new_output('stream', name='stderr', text='Traceback (most recent call last):\n  File "x"\n')])
    with pytest.raises(bd.DocsError, match='traceback'): bd.prepare(_lesson(tmp_path, tb), REPO, {})
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Bare\n> No outputs.')])
    nbformat.write(bare, tmp_path/'05_bare.ipynb')
    with pytest.raises(bd.DocsError, match='05_bare.ipynb has no stored `run_info` output'): bd.prepare(tmp_path/'05_bare.ipynb', REPO, {})

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
            r = subprocess.run([sys.executable, 'tools/build_docs.py', '-q', '--nbs', str(NBS), '--out', str(work/'_site'),
                                '--work', str(work)], cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert r.returncode == 0, f'make docs failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'
            (work/'BUILT').touch()
    return work/'_site'

def _pages()->list[tuple[Path, str]]:
    "Each notebook and its page, in reading order"
    return [(fn, bd.page_name(fn) + '.html') for fn in sorted(NBS.glob('*.ipynb'), key=bd.nb_key)]

def test_site_has_a_page_per_notebook_and_no_remote_resources(site):
    for fn, page in _pages(): assert (site/page).exists(), f'{fn.name} has no page {page}'
    assert (site/'api.html').exists() and (site/'_static/mathjax/tex-chtml.js').exists()
    assert bd.external_resources(site) == []
    for page in site.glob('*.html'):
        assert not re.search(r'(cdn\.|cdnjs|jsdelivr|unpkg\.com|googleapis|gstatic)', page.read_text()), page.name

def _public_names()->dict[str, list[str]]:
    "Each `pets_fastai` module's `__all__`, read from its source without importing it"
    out = {}
    for fn in sorted((ROOT/'pets_fastai').glob('[!_]*.py')):
        for node in ast.parse(fn.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
                out[f'pets_fastai.{fn.stem}'] = ast.literal_eval(node.value)
    return out

def test_api_page_covers_every_public_name(site):
    page = (site/'api.html').read_text()
    names = _public_names()
    assert 'pets_fastai.profiles' in names and 'get_profile' in names['pets_fastai.profiles']
    for mod, public in names.items():
        for name in public:
            assert f'id="{bd.html_id(bd.api_label(mod, name, public))}"' in page, f'api.html has no entry for {mod}.{name}'
    text = re.sub(r'<[^>]+>', '', page)
    assert 'get_profile(name:str | None=None, **overrides)->Profile' in html.unescape(text)
    assert 'a profile name; defaults to $PETS_PROFILE' in html.unescape(text)

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
            pg = browser.new_page(viewport={'width': 1440, 'height': 1000})
            pg.route('**/*', route)
            where = {'page': ''}
            pg.on('console', lambda m: problems.append(f'{where["page"]}: console {m.type}: {m.text}') if m.type == 'error' else None)
            pg.on('pageerror', lambda e: problems.append(f'{where["page"]}: {e}'))
            pg.on('response', lambda r: problems.append(f'{where["page"]}: HTTP {r.status} {r.url}') if r.status >= 400 else None)
            for fn, page in _pages() + [(None, 'api.html'), (None, 'search.html'), (None, 'genindex.html')]:
                where['page'] = page
                pg.goto(f'{base}/{page}', wait_until='load')
                if fn is not None:
                    nb = nbformat.read(fn, as_version=4)
                    title, summary, _ = bd.title_cell(nb.cells[0].source, fn.name, need_summary=False)
                    h1 = pg.locator('h1').first.inner_text() if pg.locator('h1').count() else ''
                    if h1.rstrip('#¶ \n') != title: problems.append(f'{page}: title {h1!r}, notebook says {title!r}')
                    if summary and pg.locator('p.summary').count() != 1: problems.append(f'{page}: no summary line')
                    if fn.stem != 'index':
                        badge = pg.locator('a.colab-badge')
                        if badge.count() != 1 or not badge.get_attribute('href').endswith(f'/blob/main/nbs/{fn.name}'):
                            problems.append(f'{page}: no Colab badge for {fn.name}')
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
                problems += _check_links(site, page, sorted(set(pg.eval_on_selector_all('a[href]', 'els => els.map(e => e.getAttribute("href"))'))))
                pg.screenshot(path=str(SHOTS/f'{Path(page).stem}.png'))
            where['page'] = 'search.html?q=profile'  # the search index works offline too
            pg.goto(f'{base}/search.html?q=profile', wait_until='load')
            pg.wait_for_selector('#search-results li', timeout=15_000)
            browser.close()
    finally: srv.shutdown()
    problems += [f'asked another host for {url}' for url in remote]
    assert problems == [], '\n'.join(problems)
