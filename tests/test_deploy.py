"""The ONNX export: `preprocessing` reads the inference steps from a learner's transforms and refuses ones it does
not know; `crop_pixels` and `spec_tensor` reproduce fastai's pipeline on odd-sized, tiny, grey and transparent
images; `export_onnx` writes model.onnx and model.json beside model.pkl, never over an earlier export, and agrees with
`learn.get_preds`; `copy_try_assets` picks the run whose model `predict` would use."""
import importlib.util, json, os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from fastai.vision.all import Pipeline, Transform
from fastai.data.transforms import IntToFloatTensor, Normalize, ToTensor
from fastai.vision.all import PILImage, Resize, TensorImage, aug_transforms, imagenet_stats

from pets_fastai.photos import species
from pets_fastai.checkpoint import ModelFileError
from pets_fastai.deploy import agreement, crop_pixels, export_onnx, onnx_probs, preprocessing, spec_tensor

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location('try_assets', ROOT/'tools'/'docs'/'try_assets.py')
ta = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ta)

def _learner(item_tfms, batch_tfms, type_tfms=()):
    "Just enough of a Learner for `preprocessing`: its DataLoaders' type transforms of the inputs, item and batch pipelines"
    return SimpleNamespace(dls=SimpleNamespace(valid_ds=SimpleNamespace(tls=[SimpleNamespace(tfms=Pipeline(list(type_tfms)))]),
                                               after_item=Pipeline([*item_tfms, ToTensor()]),
                                               after_batch=Pipeline([IntToFloatTensor(), *batch_tfms])))

def _pets_like(item_sz=96, sz=64, normalize=True):
    norm = [Normalize.from_stats(*imagenet_stats, cuda=False)] if normalize else []
    return _learner([Resize(item_sz)], [*aug_transforms(size=sz, min_scale=0.75), *norm])

def test_preprocessing_reads_sizes_and_stats():
    spec = preprocessing(_pets_like(320, 288))
    assert (spec['item_sz'], spec['sz']) == (320, 288)
    np.testing.assert_allclose(spec['mean'], imagenet_stats[0], rtol=1e-6)
    np.testing.assert_allclose(spec['std'], imagenet_stats[1], rtol=1e-6)
    assert preprocessing(_pets_like(normalize=False))[('mean')] == [0.]*3
    # min_scale=1: the affine transforms themselves resize to `sz`
    assert preprocessing(_learner([Resize(100)], aug_transforms(size=80)))['sz'] == 80
    assert preprocessing(_learner([Resize(100)], aug_transforms()))['sz'] == 100
    assert preprocessing(_learner([], aug_transforms(size=80), type_tfms=[Resize(100)]))['item_sz'] == 100  # a pixel store's crop

class Mystery(Transform):
    "A batch transform the export knows nothing about"
    def encodes(self, x:TensorImage): return x * 2

def test_preprocessing_refuses_what_it_cannot_reproduce():
    with pytest.raises(ValueError, match="method='crop'"): preprocessing(_learner([Resize(96, method='squish')], []))
    with pytest.raises(ValueError, match='Mystery'): preprocessing(_learner([Resize(96)], [Mystery()]))
    with pytest.raises(ValueError, match='more than twice'): preprocessing(_pets_like(200, 64))
    with pytest.raises(ValueError, match='no Resize'): preprocessing(_learner([], []))

def _pictures(tmp_path)->list[Path]:
    "Odd sizes, smaller than the item size, grey, palette and transparent: each as fastai would read it"
    rng = np.random.default_rng(0)
    out = []
    for i, (w, h, mode) in enumerate([(401, 299, 'RGB'), (299, 401, 'RGB'), (60, 45, 'RGB'), (500, 500, 'L'),
                                      (333, 250, 'RGBA'), (250, 333, 'P')]):
        arr = rng.integers(0, 256, (h, w, 4 if mode == 'RGBA' else 3), dtype=np.uint8)
        img = Image.fromarray(arr, 'RGBA' if mode == 'RGBA' else 'RGB')
        img = img.convert(mode) if mode in ('L', 'P') else img
        fn = tmp_path/f'pic{i}.{"jpg" if mode in ("RGB", "L") else "png"}'
        img.save(fn)
        out.append(fn)
    return out

def test_crop_pixels_is_fastais_resize(tmp_path):
    for fn in _pictures(tmp_path):
        want = np.asarray(Resize(96)(PILImage.create(fn), split_idx=1))
        np.testing.assert_array_equal(crop_pixels(fn, 96), want, err_msg=fn.name)

SAMPLE = Path('/work/shared/data/oxford-iiit-pet-sample')

def test_spec_tensor_is_fastais_batch(tmp_path):
    learn = _pets_like(96, 64)
    spec = preprocessing(learn)
    photos = sorted(SAMPLE.glob('images/*.jpg'))[::60] if SAMPLE.is_dir() else []  # real photos too, when here
    for fn in _pictures(tmp_path) + photos:
        px = crop_pixels(fn, 96)
        want = Pipeline(learn.dls.after_batch.fs, split_idx=1)(TensorImage(torch.from_numpy(px).permute(2, 0, 1)[None]))
        np.testing.assert_allclose(spec_tensor(px, spec), want.numpy(), atol=1e-4, err_msg=fn.name)  # float rounding; an 8-bit step is 0.017

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A run folder with a tiny model trained for one epoch on generated pictures, and the learner"
    from fastai.learner import load_learner
    from pets_fastai.profiles import get_profile
    from pets_fastai.photos import get_pets
    from pets_fastai.data import pets_dls
    from pets_fastai.learner import pets_learner
    from pets_fastai.records import RunLog, new_run_dir, run_record, save_record
    prof = get_profile('smoke')
    path = get_pets(prof)
    dls = pets_dls(prof, path)
    learn = pets_learner(dls, prof, cbs=RunLog())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, prof.lr)
    learn.path, learn.model_dir = new_run_dir(tmp_path_factory.mktemp('runs'), prof.arch, prof.name), '.'
    save_record(run_record(learn, prof, path, 'fit_one_cycle(1)'), learn.path)
    learn.remove_cb(RunLog)
    learn.export('model.pkl')
    return learn.path, load_learner(learn.path/'model.pkl'), dls.valid_ds.items

def test_export_writes_beside_the_model_and_agrees(trained):
    run, learn, fns = trained
    onnx_fn, json_fn = export_onnx(run)
    assert (onnx_fn, json_fn) == (run/'model.onnx', run/'model.json')
    info = json.loads(json_fn.read_text())
    assert info['vocab'] == list(learn.dls.vocab) and info['species'] == [species(b) for b in info['vocab']]
    assert info['preprocessing'] == preprocessing(learn) and info['input']['shape'] == [1, 3, 96, 96]
    assert info['measured']['run'] == run.name and info['measured']['how'].endswith('validation images')
    assert 0 <= info['measured']['error_rate'] <= 1 and info['onnx_bytes'] == onnx_fn.stat().st_size
    assert oct(onnx_fn.stat().st_mode & 0o777) == '0o644'
    res = agreement(learn, onnx_fn, fns)
    print(f"\nONNX vs learn.get_preds on {res['n']} generated pictures: top-1 agreement {res['top1_agree']:.0%}, "
          f"largest |Δp| {res['max_dp']:.1e}")
    assert res['n'] == len(fns) and res['top1_agree'] == 1 and res['max_dp'] <= 1e-4

def test_export_never_overwrites(trained, tmp_path):
    run = trained[0]
    export_onnx(run, tmp_path)
    before = (tmp_path/'model.onnx').stat().st_mtime_ns
    with pytest.raises(FileExistsError, match='overwrite=True'): export_onnx(run, tmp_path)
    assert (tmp_path/'model.onnx').stat().st_mtime_ns == before
    export_onnx(run/'model.pkl', tmp_path, overwrite=True)
    assert sorted(f.name for f in tmp_path.iterdir()) == ['model.json', 'model.onnx']  # no temporary file left
    with pytest.raises(ModelFileError, match='no such model file'): export_onnx(tmp_path/'nothing')

def test_onnx_probs_sum_to_one(trained, tmp_path):
    onnx_fn, _ = export_onnx(trained[0], tmp_path)
    p = onnx_probs(onnx_fn, _pictures(tmp_path))
    assert p.shape == (6, 37)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)

def _run(runs:Path, name:str, created:str, model:bool=True):
    d = runs/name
    d.mkdir(parents=True)
    (d/'record.json').write_text(json.dumps(dict(kind='train', created=created)))
    if model: (d/'model.pkl').write_bytes(b'')
    return d

def test_try_page_takes_the_model_predict_takes(tmp_path):
    "One rule for `latest`: the run whose model.pkl was written last, as `pets-fastai predict` (lesson 10) takes it"
    from pets_fastai.run import latest_run
    assert ta.newest_model(tmp_path/'none') is None
    newest = _run(tmp_path, 'b-older-record', '2026-01-01T10:00:00+00:00')
    older = _run(tmp_path, 'a-newer-record', '2026-02-01T10:00:00+00:00')
    _run(tmp_path, 'c-interrupted', '2026-03-01T10:00:00+00:00', model=False)
    os.utime(older/'model.pkl', ns=(10**18, 10**18)); os.utime(newest/'model.pkl', ns=(2 * 10**18, 2 * 10**18))
    assert ta.newest_model(tmp_path) == latest_run(tmp_path) == newest

def test_vendored_onnxruntime_web_is_the_pinned_one():
    dist = ta.ort_dist()
    assert json.loads((dist.parent/'package.json').read_text())['version'] == ta.ort_version()
    assert all((dist/f).is_file() for f in ta.ORT_FILES)
