"The recipe (`pets_fastai.recipe`) and the benchmark's helpers (`pets_fastai.bench`) on a few tiny generated pictures."
import json, time
import pytest
import torch
from PIL import Image

from pets_fastai.profiles import get_profile
from pets_fastai.data import make_pets, pets_dls
from pets_fastai.learner import pets_learner
from pets_fastai.recipe import body_features, feature_dls, head_learner, train_recipe, measured, ablation, RECIPE
from pets_fastai.bench import presized_copy, bench_table, PeakMemory, main as bench_main

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "Four small generated pictures per breed"
    return make_pets(tmp_path_factory.mktemp('pets')/'tiny', n_per_breed=4, min_side=80, max_side=160)

@pytest.fixture(scope='module')
def prof(): return get_profile('smoke', item_sz=48, sz=32, bs=16)

def test_body_features_and_shared_head(tiny, prof):
    dls = pets_dls(prof, tiny)
    learn = pets_learner(dls, prof)
    x, y = body_features(learn, dls.valid)
    assert x.shape == (len(dls.valid_ds), learn.model[1][2].num_features) and type(x) is torch.Tensor
    assert y.tolist() == [int(t) for _, t in dls.valid_ds]
    xa, ya = body_features(learn, dls.train.new(shuffle=False, drop_last=False), n_views=3)
    assert len(xa) == 3 * len(dls.train_ds) and torch.equal(ya[:len(dls.train_ds)], ya[-len(dls.train_ds):])
    hl = head_learner(learn, feature_dls(xa, ya, x, y, bs=16))
    before = learn.model[1][-1].weight.detach().clone()
    with hl.no_bar(), hl.no_logging(): hl.fit(1, 1e-2)
    assert not torch.equal(before, learn.model[1][-1].weight), "training the head learner must train learn's head"
    assert float(learn.validate()[1]) == pytest.approx(float(hl.validate()[1]), abs=1e-6)

def test_train_recipe_record(tiny, prof):
    learn, rec = train_recipe(prof, tiny, views=2, epochs=3, lr=1e-2, tta=True)
    assert rec['recipe'] == dict(sz=32, item_sz=48, views=2, epochs=3, lr=1e-2, tta=True, finetune_epochs=0, body_lr=None)
    assert rec['experiment'] == 'recipe(sz=32, item_sz=48, views=2, epochs=3, lr=0.01, tta=True, finetune_epochs=0)'
    assert rec['data']['n_valid'] == len(learn.dls.valid_ds) and rec['data']['generated']
    assert 0 <= rec['final']['error_rate'] <= 1 and 0 <= rec['final']['error_rate_plain'] <= 1
    assert len(rec['epochs']) == 3 and rec['wall_time_s'] >= sum(rec['timings'].values()) - 0.1
    json.dumps(rec, allow_nan=False)

def test_train_recipe_finetune(tiny, prof):
    learn, rec = train_recipe(prof, tiny, epochs=1, lr=1e-2, tta=False, finetune_epochs=1)
    assert 'finetune_s' in rec['timings'] and rec['recipe']['body_lr'] == 1e-4
    assert rec['final']['error_rate'] == rec['final']['error_rate_plain']
    assert all(p.requires_grad for p in learn.model.parameters())

def test_ablation_runs_every_row_once_per_seed(tiny, prof):
    rows = {'plain': dict(views=1, epochs=1, lr=1e-2, tta=False), 'views': dict(views=2, epochs=1, lr=1e-2, tta=False)}
    abl = ablation(prof, rows, tiny, baseline_epochs=None, seeds=[1, 2])
    assert abl.setting.tolist() == ['plain', 'views'] * 2 and abl.seed.tolist() == [1, 1, 2, 2]
    assert abl.error_rate.between(0, 1).all() and (abl.seconds > 0).all()

def test_train_recipe_bad_views(prof):
    with pytest.raises(ValueError, match='views=0'): train_recipe(prof, views=0)

def test_presized_copy(tiny, tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in (tiny/'images').iterdir()}
    dest = presized_copy(tiny, 100, cache=tmp_path)
    fns = sorted((dest/'images').iterdir())
    assert [p.name for p in fns] == sorted(before)
    for fn in fns:
        with Image.open(fn) as img, Image.open(tiny/'images'/fn.name) as orig:
            assert min(img.size) == min(100, min(orig.size))
    assert {p.name: p.stat().st_mtime_ns for p in (tiny/'images').iterdir()} == before, 'the source must not change'
    stamp = fns[0].stat().st_mtime_ns
    assert presized_copy(tiny, 100, cache=tmp_path) == dest and fns[0].stat().st_mtime_ns == stamp
    assert presized_copy(tiny, 64, cache=tmp_path) != dest

def test_presized_copy_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)): presized_copy(tmp_path, 100, cache=tmp_path/'c')

def test_peak_memory():
    with PeakMemory() as small: time.sleep(0.2)
    with PeakMemory() as big:
        x = torch.ones(100_000_000, dtype=torch.uint8)  # 100 MB
        time.sleep(0.2)
    del x
    assert 20 < small.mb and big.mb - small.mb > 80

def test_bench_table():
    rows = {'defaults': dict(num_workers=2, data_ips=10., train_ips=4., peak_mb=1000.),
            'ours': dict(num_workers=0, data_ips=30., train_ips=6., peak_mb=800.)}
    lines = bench_table(rows).splitlines()
    assert lines[2] == '| defaults | 2 | 10.0 | 1.00 | 4.0 | 1.00 | 1000 | 1.00 |'
    assert lines[3] == '| ours | 0 | 30.0 | 3.00 | 6.0 | 1.50 | 800 | 0.80 |'

def test_bench_bad_path(tmp_path, capsys):
    with pytest.raises(SystemExit): bench_main(['--path', str(tmp_path/'nowhere')])
    assert 'nowhere is not a folder' in capsys.readouterr().err

def test_measured_records_ship_with_the_package():
    "The records lesson 9 shows are package data: they load from an installed copy, not only from the repository"
    recs = measured('train')
    assert sorted(r['seed'] for r in recs) == [1, 2, 42] and all(r['profile'] == 'sample' for r in recs)
    assert all({k: r['recipe'][k] for k in RECIPE} == RECIPE for r in recs)
    assert measured('ablation')[-1]['kind'] == 'ablation' and measured('bench')[-1]['kind'] == 'bench'
    with pytest.raises(ValueError, match="kind='nope'"): measured('nope')

def test_bench_out_never_overwrites(tiny, tmp_path, capsys):
    out = tmp_path/'bench.json'
    out.write_text('{}')
    with pytest.raises(SystemExit): bench_main(['--path', str(tiny), '--out', str(out)])
    assert 'bench.json exists' in capsys.readouterr().err and out.read_text() == '{}'
