"""The "Try it" page's files: onnxruntime-web (vendored from npm at build time), the page's script and style, and
the model that `make demo` trained, exported to ONNX. The docs builder calls `copy_try_assets(static, runs)`.

Which model: the one `pets-fastai predict` would use, lesson 10's `latest_run`: the run under `runs/` whose model.pkl
was written last.
No model is published in the repository: the weights are a 17 MB binary that would go stale with every change to
the recipe, and they are trained on the Oxford-IIIT Pet photos, whose CC BY-SA 4.0 licence may carry over to a
model fitted to them. Without a run the page says so and how to get one (`make demo`, then `make docs`)."""
import json, shutil, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRY = ROOT/'docs'/'try'
# The ES module of the WebAssembly-only build and the single-threaded-capable SIMD runtime it loads: with
# numThreads=1 it needs no SharedArrayBuffer, so the site needs no cross-origin isolation headers.
ORT_FILES = ('ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm')
PAGE_FILES = ('try.js', 'pil_resize.js', 'try.css')

class TryAssetsError(RuntimeError):
    "The Try it page's files could not be gathered; the message says what to do"

def ort_version(try_dir:Path=TRY)->str:
    "The onnxruntime-web version that `package.json` pins"
    return json.loads((try_dir/'package.json').read_text())['dependencies']['onnxruntime-web']

def ort_dist(try_dir:Path=TRY)->Path:
    "onnxruntime-web's `dist` folder, installed from npm at the pinned version (`npm ci`) when it is missing"
    pkg = try_dir/'node_modules'/'onnxruntime-web'
    installed = json.loads((pkg/'package.json').read_text())['version'] if (pkg/'package.json').exists() else None
    if installed != ort_version(try_dir):
        try: subprocess.run(['npm', 'ci', '--no-audit', '--no-fund', '--ignore-scripts'], cwd=try_dir, check=True,
                            capture_output=True, text=True)
        except FileNotFoundError as e:
            raise TryAssetsError('The Try it page needs onnxruntime-web from npm, and npm is not installed: install '
                                 'Node.js (which brings npm) and build the docs again.') from e
        except subprocess.CalledProcessError as e:
            raise TryAssetsError(f'`npm ci` in {try_dir} failed (is the npm registry reachable?):\n{e.stderr.strip()}') from e
    return pkg/'dist'

def newest_model(runs:Path=Path('runs'))->Path|None:
    "The run folder whose model `pets-fastai predict` would use (lesson 10's `latest_run`), or None when there is none"
    from pets_fastai.checkpoint import RunError
    from pets_fastai.run import latest_run
    try: return latest_run(runs)
    except RunError: return None

def _model_files(run:Path, dest:Path)->Path:
    "model.onnx and model.json of `run` in `dest`: copied when the run's export is newer than its model, else exported"
    from pets_fastai.deploy import export_onnx
    onnx_fn, json_fn = run/'model.onnx', run/'model.json'
    fresh = all(f.exists() and f.stat().st_mtime_ns >= (run/'model.pkl').stat().st_mtime_ns for f in (onnx_fn, json_fn))
    if not fresh: return export_onnx(run, dest)[1]
    for f in (onnx_fn, json_fn): shutil.copy2(f, dest/f.name)
    return dest/'model.json'

def copy_try_assets(static:Path,            # the site's `_static` folder: the page loads `_static/try/try.js`
                    runs:Path=Path('runs'), # where `make demo` keeps its runs
                   )->dict:                 # what the page uses: the model (or None) and the onnxruntime-web version
    "Fill `static/try` with onnxruntime-web, the page's script and the latest run's model; return what was used"
    dest = Path(static)/'try'
    if dest.exists(): shutil.rmtree(dest)
    (dest/'ort').mkdir(parents=True)
    dist = ort_dist()
    for f in ORT_FILES: shutil.copy2(dist/f, dest/'ort'/f)
    (dest/'ort'/'LICENSE.txt').write_text(f'onnxruntime-web {ort_version()} (npm), MIT licence, '
                                          'Copyright (c) Microsoft Corporation.\n')
    for f in PAGE_FILES: shutil.copy2(TRY/f, dest/f)
    run, model = newest_model(runs), None
    if run is not None:
        info = json.loads(_model_files(run, dest).read_text())
        measured = info.get('measured') or {}
        model = dict(onnx='model.onnx', info='model.json', run=run.name, arch=measured.get('arch'),
                     profile=measured.get('profile'), error_rate=measured.get('error_rate'), how=measured.get('how'),
                     generated=measured.get('generated'), onnx_bytes=(dest/'model.onnx').stat().st_size)
    page = dict(model=model, onnxruntime_web=ort_version())
    (dest/'page.json').write_text(json.dumps(page, indent=2) + '\n')
    return page
