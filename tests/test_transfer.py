"`pets_fastai.transfer` on a tiny two-layer model: `our_fine_tune` is fastai's `fine_tune`, bit for bit."
import numpy as np
import pytest
import torch
from torch import nn
from fastai.vision.all import Learner, DataLoaders, DataLoader, accuracy, params

from fastai.torch_core import set_seed
from pets_fastai.transfer import our_fine_tune, param_counts, GroupHypers
from helpers import grouped_learner

SEED = 3

def trained(train, seed:int=SEED)->Learner:
    "A fresh `grouped_learner` after `train(learn)`, seeded right before it"
    learn = grouped_learner(seed, cbs=GroupHypers())
    set_seed(seed)
    with learn.no_bar(), learn.no_logging(): train(learn)
    return learn

def same_weights(a:Learner, b:Learner)->bool:
    return all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()))

ARGS = [dict(epochs=2, base_lr=1e-2), dict(epochs=3, base_lr=3e-2, freeze_epochs=2, lr_mult=10, pct_start=0.5, div=2.0)]

@pytest.mark.parametrize('kw', ARGS, ids=['defaults', 'every-argument'])
def test_our_fine_tune_is_fastais(kw):
    theirs, ours = trained(lambda l: l.fine_tune(**kw)), trained(lambda l: our_fine_tune(l, **kw))
    assert same_weights(theirs, ours)
    assert theirs.recorder.values == ours.recorder.values
    assert theirs.recorder.losses == ours.recorder.losses
    for a, b in zip(theirs.group_hypers.lrs, ours.group_hypers.lrs): np.testing.assert_array_equal(a, b)

def altered(no_freeze=False, no_halving=False, frozen_pct=0.99, pct_start=0.3, lr_mult=100, div=5.0):
    "The fine_tune sequence with one step or argument changed"
    def train(learn, epochs=2, base_lr=1e-2):
        if not no_freeze: learn.freeze()
        learn.fit_one_cycle(1, slice(base_lr), pct_start=frozen_pct)
        if not no_halving: base_lr /= 2
        learn.unfreeze()
        learn.fit_one_cycle(epochs, slice(base_lr/lr_mult, base_lr), pct_start=pct_start, div=div)
    return train

CHANGES = [dict(), dict(no_freeze=True), dict(no_halving=True), dict(frozen_pct=0.25), dict(pct_start=0.25),
           dict(lr_mult=10), dict(div=25.0)]

@pytest.mark.parametrize('change', CHANGES, ids=lambda c: ','.join(c) or 'unchanged')
def test_a_changed_step_changes_the_weights(change):
    "The comparison has teeth: the unchanged sequence matches fastai, each change makes the weights differ"
    theirs = trained(lambda l: l.fine_tune(2, 1e-2))
    assert same_weights(theirs, trained(altered(**change))) == (not change)

def test_a_different_seed_changes_the_weights():
    assert not same_weights(trained(lambda l: l.fine_tune(2, 1e-2)), trained(lambda l: l.fine_tune(2, 1e-2), seed=4))

def test_freeze_keeps_batch_norm_trainable():
    learn = grouped_learner(cbs=GroupHypers())
    counts = param_counts(learn)
    assert counts['trainable'].tolist() == [176, 272, 34]
    learn.freeze()
    counts = param_counts(learn)
    assert counts['trainable'].tolist() == [32, 0, 34]  # the BatchNorm1d's weight and bias, nothing else, then the head
    assert counts['trainable'].tolist() == (counts['norm layers'] + [0, 0, 34]).tolist()
    learn.unfreeze()
    assert (param_counts(learn)['trainable'] == param_counts(learn)['parameters']).all()

def test_frozen_batch_norm_params_change_and_other_body_params_do_not():
    learn = grouped_learner(cbs=GroupHypers())
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.freeze()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
    after = learn.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {'0.1.weight', '0.1.bias', '0.1.running_mean', '0.1.running_var', '0.1.num_batches_tracked',
                       '1.1.weight', '1.1.bias'}

def test_discriminative_rates_per_group():
    learn = grouped_learner(cbs=GroupHypers())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, lr_max=slice(1e-6, 1e-4))
    lrs = learn.group_hypers.lrs[-1]
    assert lrs.shape == (2 * 4, 3)  # 4 batches an epoch, 3 groups
    peak = lrs[lrs[:, -1].argmax()]  # at pct_start=0.25 of 8 iterations: iteration 2, the exact peak
    np.testing.assert_allclose(peak, [1e-6, 1e-5, 1e-4], rtol=1e-6)
    np.testing.assert_allclose(lrs / lrs[:, -1:], np.broadcast_to([1e-2, 1e-1, 1], lrs.shape), rtol=1e-6)
    moms = learn.group_hypers.moms[-1]
    np.testing.assert_allclose(moms[lrs[:, -1].argmax()], [0.85] * 3, rtol=1e-6)
