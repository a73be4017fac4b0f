"The recipe (`pets_fastai.recipe`), the presized cache (`pets_fastai.data.presized`) and the benchmark's helpers (`tools/experiments/bench.py`) on a few tiny generated pictures."
import importlib.util, json, os, time
from pathlib import Path
import pytest
import torch
from PIL import Image
from fastai.learner import load_learner

from pets_fastai.profiles import get_profile
from pets_fastai.photos import make_pets
from pets_fastai.data import pets_dls, get_pet_images
from pets_fastai.presize import presized
from pets_fastai.learner import pets_learner
from pets_fastai.recipe import body_features, photo_features, fit_head, cv_error, train_recipe, measured, RECIPE, BASELINE

_spec = importlib.util.spec_from_file_location('bench', Path(__file__).parents[1]/'tools'/'experiments'/'bench.py')
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "Four small generated pictures per breed"
    return make_pets(tmp_path_factory.mktemp('pets')/'tiny', n_per_breed=4, min_side=80, max_side=160)

@pytest.fixture(scope='module')
def small(tmp_path_factory):
    "Eight small generated pictures per breed: enough for five folds, and for a held-out fifth"
    return make_pets(tmp_path_factory.mktemp('pets')/'small', n_per_breed=8, min_side=80, max_side=160)

@pytest.fixture(scope='module')
def prof(): return get_profile('smoke', item_sz=48, sz=32, bs=16)

@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    "Each test presizes into its own cache folder"
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'cache'))
    return tmp_path/'cache'

def test_photo_features_views(tiny, prof):
    dls = pets_dls(prof, tiny, valid_pct=0.)
    learn = pets_learner(dls, prof)
    feats, y = photo_features(learn, dls, flip=True, augs=2)
    n = len(get_pet_images(tiny))
    assert list(feats) == ['plain', 'flip', 'aug1', 'aug2'] and all(v.shape == (n, learn.model[1][2].num_features) for v in feats.values())
    assert y.tolist() == [int(t) for _, t in dls.train_ds]
    mirrored = body_features(learn, dls.test_dl(dls.train_ds.items[:3], with_labels=True), flip=True)[0]
    assert torch.allclose(mirrored, feats['flip'][:3], atol=1e-4) and not torch.allclose(feats['flip'], feats['plain'], atol=1e-4)
    assert not torch.allclose(feats['aug1'], feats['aug2'], atol=1e-4), 'each augmented view is a new random draw'

def _blobs(n_per=12, n_cls=4, d=8, spread=0.1):
    "Features clustered around one point per class, far apart: any sensible head separates them"
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(n_cls, d, generator=g) * 5
    y = torch.arange(n_cls).repeat_interleave(n_per)
    return centres[y] + spread * torch.randn(len(y), d, generator=g), y

@pytest.mark.parametrize('head', ['logistic', 'linear', 'fastai'])
def test_fit_head_separates_classes(head):
    x, y = _blobs()
    m = fit_head(x, y, 6, head, epochs=30, lr=1e-2, bs=8)
    with torch.inference_mode(): logits = m(x)
    assert logits.shape == (len(x), 6) and (logits.argmax(1) == y).all()

def test_fit_head_logistic_is_standardised_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    x, y = _blobs(spread=3.)
    x = x * torch.tensor([100., 1, 1, 1, 0.01, 1, 1, 1])  # scales that only standardising evens out
    sc = StandardScaler().fit(x.numpy())
    sk = LogisticRegression(C=0.5, max_iter=500).fit(sc.transform(x.numpy()), y.numpy())
    with torch.inference_mode(): ours = fit_head(x, y, 4, 'logistic', C=0.5)(x)
    assert torch.allclose(ours, torch.tensor(sk.decision_function(sc.transform(x.numpy())), dtype=torch.float32), atol=1e-3)

def test_fit_head_missing_class_is_never_predicted():
    x, y = _blobs()
    with torch.inference_mode(): assert (fit_head(x, y, 5, 'logistic')(x).argmax(1) != 4).all()

def test_fit_head_bad_name():
    with pytest.raises(ValueError, match="head='svm'"): fit_head(*_blobs(), 4, 'svm')

def test_cv_error_too_few_photos():
    x, y = _blobs(n_per=3)
    assert len(cv_error({'plain': x}, y, ['plain'])['cv_folds']) == 3, 'no more folds than the rarest breed has photos'
    with pytest.raises(ValueError, match='breed number 3 has only one photo'): cv_error({'plain': x[:10]}, y[:10], ['plain'])

def test_cv_error_folds():
    x, y = _blobs(n_per=10)
    cv = cv_error({'plain': x}, y, ['plain'], folds=5)
    assert cv['cv_error_rate'] == 0 and len(cv['cv_folds']) == 5
    noise = torch.randn_like(x)
    cv = cv_error({'plain': noise, 'flip': noise}, y, ['plain', 'flip'], folds=5)
    assert cv['cv_error_rate'] > 0.4 and cv['cv_error_std'] == pytest.approx(torch.tensor(cv['cv_folds']).std(unbiased=False).item(), abs=1e-6)

def test_train_recipe_fits_every_photo_and_exports(small, prof, tmp_path):
    learn, rec = train_recipe(prof, small, flip=True)
    n = len(get_pet_images(small))
    assert (rec['data']['n_train'], rec['data']['n_valid'], rec['holdout']) == (n, 0, False)
    assert set(rec['final']) == {'cv_error_rate', 'cv_error_std', 'cv_folds'} and len(rec['final']['cv_folds']) == 5
    assert rec['recipe'] == dict(arch='xresnet_tiny', sz=32, item_sz=48, flip=True, augs=0, head='logistic')
    assert set(rec['timings']) == {'setup_s', 'features_s', 'head_s', 'cv_s'}
    assert rec['train_s'] == pytest.approx(rec['timings']['setup_s'] + rec['timings']['features_s'] + rec['timings']['head_s'])
    json.dumps(rec, allow_nan=False)
    learn.export(tmp_path/'model.pkl')
    loaded = load_learner(tmp_path/'model.pkl')
    fns = get_pet_images(small)[:6]
    probs = loaded.get_preds(dl=loaded.dls.test_dl(fns))[0]
    assert probs.shape == (6, 37) and torch.allclose(probs, learn.get_preds(dl=learn.dls.test_dl(fns))[0], atol=1e-5)
    assert loaded.predict(fns[0])[0] in loaded.dls.vocab

def test_train_recipe_holdout(small, prof):
    learn, rec = train_recipe(prof, small, holdout=True, augs=1, head='fastai', epochs=2, lr=1e-2)
    assert rec['data']['n_valid'] == len(learn.dls.valid_ds) > 0 and 'eval_s' in rec['timings']
    assert 0 <= rec['final']['error_rate'] <= 1 and 2 <= len(rec['final']['cv_folds']) <= 5

def test_train_recipe_bad_augs(prof):
    with pytest.raises(ValueError, match='augs=-1'): train_recipe(prof, augs=-1)

def test_presized_copies_once(tiny, cache_home):
    before = {p.name: p.stat().st_mtime_ns for p in (tiny/'images').iterdir()}
    dest = presized(tiny, 100)
    assert dest.is_relative_to(cache_home/'pets_fastai'/'presized')
    for fn in (dest/'images').iterdir():
        with Image.open(fn) as img, Image.open(tiny/'images'/fn.name) as orig: assert min(img.size) == min(100, min(orig.size))
    assert {p.name: p.stat().st_mtime_ns for p in (tiny/'images').iterdir()} == before, 'the photos must not change'
    stamps = {p.name: p.stat().st_mtime_ns for p in (dest/'images').iterdir()}
    assert presized(tiny, 100) == dest and {p.name: p.stat().st_mtime_ns for p in (dest/'images').iterdir()} == stamps
    assert presized(tiny, 64) != dest

def test_presized_never_stale(tiny, tmp_path):
    "A replaced, touched, rotated, removed or added photo is presized again or dropped on the next call"
    src, fns = tmp_path/'src', get_pet_images(tiny)
    (src/'images').mkdir(parents=True)
    for fn in fns[:4]: (src/'images'/fn.name).write_bytes(fn.read_bytes())
    a, b, c, d = sorted((src/'images').iterdir())
    dest = presized(src, 60)
    cached = lambda fn: dest/'images'/fn.name
    stamp_b, old_c = cached(b).stat().st_mtime_ns, cached(c).read_bytes()
    st = a.stat()
    Image.new('RGB', (300, 200), 'red').save(a)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # replaced, with its old time: the size gives it away
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # only touched
    with Image.open(c) as img: img.rotate(90, expand=True).save(c)
    d.unlink()
    (src/'images'/fns[4].name).write_bytes(fns[4].read_bytes())
    assert presized(src, 60) == dest
    with Image.open(cached(a)) as img: assert img.size == (90, 60) and img.getpixel((45, 30))[0] > 240
    assert cached(b).stat().st_mtime_ns != stamp_b and cached(c).read_bytes() != old_c
    with Image.open(c) as img, Image.open(cached(c)) as small: assert (img.width > img.height) == (small.width > small.height)
    assert not cached(d).exists() and cached(fns[4]).exists()
    assert sorted(p.name for p in (dest/'images').iterdir()) == sorted(p.name for p in (src/'images').iterdir())

def test_pets_dls_reads_the_presized_copy(tiny, prof):
    dls = pets_dls(prof, tiny)
    assert all(Path(fn).is_relative_to(presized(tiny, prof.item_sz)) for fn in dls.train_ds.items)
    assert [type(t).__name__ for t in dls.valid_ds.tls[0].tfms.fs][-1] == 'PresizeCrop'  # read from the pixel store, not decoded
    assert all(Path(fn).parent == tiny/'images' for fn in pets_dls(prof, tiny, cache=False).train_ds.items)

def test_peak_memory():
    with bench.PeakMemory() as small: time.sleep(0.2)
    with bench.PeakMemory() as big:
        x = torch.ones(100_000_000, dtype=torch.uint8)  # 100 MB
        time.sleep(0.2)
    del x
    assert 20 < small.mb and big.mb - small.mb > 80

def test_bench_table():
    rows = {'defaults': dict(num_workers=2, data_ips=10., train_ips=4., peak_mb=1000.),
            'ours': dict(num_workers=0, data_ips=30., train_ips=6., peak_mb=800.)}
    lines = bench.bench_table(rows).splitlines()
    assert lines[2] == '| defaults | 2 | 10.0 | 1.00 | 4.0 | 1.00 | 1000 | 1.00 |'
    assert lines[3] == '| ours | 0 | 30.0 | 3.00 | 6.0 | 1.50 | 800 | 0.80 |'

def test_bench_ours_row_is_the_product_path():
    assert bench.CONFIGS['ours: pets_dls + pets_learner'] == dict(num_workers=None, cache=None, channels_last=None)
    assert list(bench.CONFIGS)[-1] == 'ours: pets_dls + pets_learner'

def test_bench_bad_path(tmp_path, capsys):
    with pytest.raises(SystemExit): bench.main(['--path', str(tmp_path/'nowhere')])
    assert 'nowhere is not a folder' in capsys.readouterr().err

def test_bench_out_never_overwrites(tiny, tmp_path, capsys):
    out = tmp_path/'bench.json'
    out.write_text('{}')
    with pytest.raises(SystemExit): bench.main(['--path', str(tiny), '--out', str(out)])
    assert 'bench.json exists' in capsys.readouterr().err and out.read_text() == '{}'

def test_measured_records_ship_with_the_package():
    "The records lesson 9 shows are package data: they load from an installed copy, not only from the repository"
    abl = measured('ablation')[-1]
    winner = next(r for r in abl['rows'] if r['setting'] == abl['winner'])
    assert winner['settings'] == RECIPE and abl['rows'][0]['settings'] == BASELINE and len(winner['cv_folds']) == 5 * len(abl['fold_seeds'])
    assert measured('bench')[-1]['kind'] == 'bench'
    with pytest.raises(ValueError, match="kind='nope'"): measured('nope')

def test_pixel_store_matches_its_copy_and_pickles_without_pixels(tiny, prof):
    import pickle
    from pets_fastai.presize import pixel_store, PresizeCrop, _pixels
    folder = presized(tiny, prof.item_sz)
    store = pixel_store(folder, prof.item_sz)
    fns = sorted((folder/'images').iterdir())
    assert len(store) == len(fns) and all((store.get(f) == _pixels(f, prof.item_sz)).all() for f in fns[:10])
    assert store.get(tiny/'images'/fns[0].name) is None  # the original photo is not the copy the store holds
    crop = pickle.loads(pickle.dumps(PresizeCrop(store)))
    assert len(pickle.dumps(store)) < store.fn.stat().st_size / 10  # an exported learner carries no pixels
    assert crop(fns[0], split_idx=1).shape == (3, prof.item_sz, prof.item_sz)

def test_pixel_store_too_small_a_disk(tiny, prof, monkeypatch):
    "No room: the error says how much is needed and what to do, and nothing is left half-written"
    import errno, shutil
    import pets_fastai.presize as pz
    folder = presized(tiny, prof.item_sz)
    real = shutil.disk_usage
    monkeypatch.setattr(pz.shutil, 'disk_usage', lambda p: real(p)._replace(free=1000))
    with pytest.raises(OSError, match='needs 0.0[0-9] GiB and its disk has 0.00 GiB free.*XDG_CACHE_HOME.*cache=False'): pz.pixel_store(folder, prof.item_sz)
    monkeypatch.setattr(pz.shutil, 'disk_usage', real)
    def full(*a): raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(pz, '_pixels', full)  # the disk fills up while the file is written
    with pytest.raises(OSError, match='pets_dls to decode the photos'): pz.pixel_store(folder, prof.item_sz)
    assert not list(folder.glob('pixels-*')) and not list(folder.glob('.pixels-*'))

def test_pixel_store_follows_its_photos(tiny, prof, tmp_path):
    "A photo replaced makes a new store; loaders built on the old one say so rather than read a removed file"
    from pets_fastai.presize import pixel_store
    src = tmp_path/'src'/'images'
    src.mkdir(parents=True)
    fns = sorted((tiny/'images').iterdir())
    for fn in fns[:3]: (src/fn.name).write_bytes(fn.read_bytes())
    old = pixel_store(presized(src.parent, prof.item_sz), prof.item_sz)
    (src/fns[0].name).write_bytes(fns[5].read_bytes())
    new = pixel_store(presized(src.parent, prof.item_sz), prof.item_sz)
    assert new.fn != old.fn and not old.fn.exists()
    with pytest.raises(FileNotFoundError, match='Build them again'): old.get(new.folder/'images'/fns[1].name)

def test_measure_feed(tiny):
    "The feeding measurement counts the images it timed, through either path"
    r = bench.measure_feed(str(tiny), True, 2, item_sz=48, sz=32, bs=16)
    assert r['images'] == 32 and r['ips_per_cpu_s'] > 0
