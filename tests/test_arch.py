"Tests of pets_fastai.arch that need no training data: weights metadata, FLOP counts, memory, callbacks, mixed precision."
import subprocess, sys
from dataclasses import replace

import matplotlib
matplotlib.use('Agg')
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn
from fastai.callback.hook import total_params

from pets_fastai.arch import RESNETS, ARCH_PLANS, ComparePlan, imagenet_weights, plot_error_time, compare_archs, plan_dls
from pets_fastai.costs import forward_flops, memory_kind, reset_peak_memory, peak_memory, CostCB, native_bf16, bf16_forward, subset_dls
from pets_fastai.backbones import resnet_weights
from pets_fastai.profiles import get_profile
from helpers import linear_learner


def test_default_weights_are_v2_for_deep_resnets():
    wts = imagenet_weights()
    default = wts[wts.default].set_index('arch').weights
    assert default.to_dict() == {'resnet18': 'IMAGENET1K_V1', 'resnet34': 'IMAGENET1K_V1', 'resnet50': 'IMAGENET1K_V2',
                                 'resnet101': 'IMAGENET1K_V2', 'resnet152': 'IMAGENET1K_V2'}
    top1 = wts.pivot(index='arch', columns='weights', values='top1').dropna()
    assert (top1.IMAGENET1K_V2 > top1.IMAGENET1K_V1).all()


def test_resnet_weights():
    assert resnet_weights('resnet101') == torchvision.models.ResNet101_Weights.IMAGENET1K_V1
    assert resnet_weights('resnet101', 'DEFAULT') == torchvision.models.ResNet101_Weights.IMAGENET1K_V2
    with pytest.raises(ValueError, match='resnet34 has no ImageNet weights .IMAGENET1K_V2.: use one of IMAGENET1K_V1'):
        resnet_weights('resnet34', 'IMAGENET1K_V2')


@pytest.mark.parametrize('name', RESNETS)
def test_params_and_flops_match_torchvision(name):
    w = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    with torch.device('meta'): model = torchvision.models.get_model(name)
    assert total_params(model)[0] == w.meta['num_params']
    assert abs(forward_flops(model, 224) / 2e9 - w.meta['_ops']) < 1e-3  # torchvision counts multiply-adds
    assert model.fc.weight.device.type == 'meta'  # forward_flops works on a copy


def test_forward_flops_runs_on_real_weights_without_touching_them():
    model = nn.Conv2d(3, 4, 3, padding=1)
    before = model.weight.clone()
    assert forward_flops(model, 8) == 2 * 3 * 4 * 9 * 8 * 8
    assert torch.equal(model.weight, before) and model.weight.device.type == 'cpu'


@pytest.mark.skipif(memory_kind() != 'process peak RSS', reason='needs a resettable peak RSS (Linux)')
def test_peak_memory_resets():
    "In a fresh process: 200 MB raise the peak, a reset brings it back (a long-lived test worker's earlier peaks and freed memory would blur both)"
    code = ("import torch; from pets_fastai.costs import reset_peak_memory, peak_memory\n"
            "reset_peak_memory(); base = peak_memory(); big = torch.ones(50_000_000); del big\n"
            "grew = peak_memory() - base; reset_peak_memory(); print(grew, peak_memory() - base)")
    r = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    grew, after = map(int, r.stdout.split()[-2:])
    assert grew > 150e6 and after < 100e6, (grew, after)


def test_cost_callback_counts_images_and_time():
    cb = CostCB()
    learn = linear_learner(cbs=cb)
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    assert cb.n_imgs == 2 * 24 and len(cb.epoch_s) == len(cb.train_s) == 2
    assert cb.shape == (8, 2) and cb.pred_dtype == torch.float32
    assert all(0 < t < e for t, e in zip(cb.train_s, cb.epoch_s))


def test_subset_dls():
    dls = linear_learner().dls
    small = subset_dls(dls, n_train=16, n_valid=4)
    assert (len(small.train), len(small.valid), len(dls.train)) == (2, 1, 3)
    with pytest.raises(ValueError, match='n_train=4 is less than one batch .bs=8.'): subset_dls(dls, n_train=4)


def test_bf16_forward_is_close_to_fp32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    r = bf16_forward(model, torch.randn(4, 3, 16, 16))
    assert r['dtype'] == torch.bfloat16
    assert 0 < r['max_rel_diff'] < 0.1
    assert r['fp32_s'] > 0 and r['bf16_s'] > 0


def test_native_bf16_is_a_bool_on_linux():
    assert native_bf16() in (True, False)


def test_plans_are_consistent():
    assert set(ARCH_PLANS) == {'smoke', 'sample', 'full', 'gpu'}
    assert ARCH_PLANS['smoke'].archs == RESNETS and ARCH_PLANS['full'].pretrained == RESNETS
    for plan in ARCH_PLANS.values():
        assert set(plan.pretrained) <= set(plan.archs)
        assert not plan.pretrained or plan.epochs > plan.freeze_epochs >= 1
    sample, prof = ARCH_PLANS['sample'], get_profile('sample')  # lesson 6 trains the Lites with lesson 2's schedule
    assert (sample.epochs, sample.freeze_epochs, sample.bs) == (prof.freeze_epochs + prof.epochs, prof.freeze_epochs, prof.bs)
    assert sample.lrs is None  # each Lite's own rate comes from the seeds record, in the lesson


def test_compare_archs_on_generated_data():
    prof = get_profile('smoke')
    plan = ComparePlan(('xresnet_tiny',), epochs=1, lr=1e-2, bs=8, n_train=16, n_valid=8)
    res = compare_archs(plan_dls(prof, plan), prof, plan)
    r = res.loc['xresnet_tiny']
    assert (r.n_train, r.sz, r.epochs, r.precision, r.weights) == (16, prof.sz, 1, 'float32', 'none (from scratch)')
    assert 1 < r.params_m < 2 and r.gflops > 0 and r.img_per_s > 0 and r.peak_mem_gb > 0
    assert 0 <= r.error_rate <= 1 and r.train_s >= r.s_per_epoch > 0


def test_plot_labels_every_point_without_overlap():
    "Three models whose errors are within a point of each other get three labels, stacked apart"
    res = pd.DataFrame(dict(train_s=[50., 60., 70.], error_rate=[0.300, 0.304, 0.297]),
                       index=['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2'])
    ax = plot_error_time(res, 92, 'test').axes[0]
    labels = {t.get_text().split(':')[0]: t.xyann[1] for t in ax.texts if ':' in t.get_text()}
    assert set(labels) == set(res.index)
    ys = sorted(labels.values())
    assert min(b - a for a, b in zip(ys, ys[1:])) >= 0.06 - 1e-9, labels
    assert len(ax.lines) + len(ax.collections) >= 1
