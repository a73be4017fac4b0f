"`find_lr` on a tiny learner: it restores the model and optimiser exactly, and agrees with fastai's `lr_find`."
import math
import pytest
import torch
from torch import nn
import matplotlib.pyplot as plt
from fastai.vision.all import Learner, DataLoaders, CrossEntropyLossFlat, minimum, steep, valley, slide

from pets_fastai.lr_find import find_lr, reseed, LRFinderResult
from pets_fastai.checkpoint import preserved
from helpers import conv_learner


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "These models are tiny: one thread is faster than several, and much faster on a busy machine"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tensors(learn):
    "Every weight, buffer, gradient and optimiser state tensor of `learn`, in a fixed order"
    model = [v for v in learn.model.state_dict().values()]
    grads = [p.grad for p in learn.model.parameters() if p.grad is not None]
    opt = [v for p, *_ in learn.opt.all_params() for v in learn.opt.state[p].values() if torch.is_tensor(v)]
    return model, grads, opt


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b): assert torch.equal(x, y)


def test_restores_weights_buffers_and_optimiser():
    learn = conv_learner()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)  # gives Adam moving averages and BN statistics
    model, grads, opt = [[t.clone() for t in ts] for ts in tensors(learn)]
    hypers = [dict(h) for h in learn.opt.hypers]
    modes = [m.training for m in learn.model.modules()]
    assert len(opt) > 0 and len(grads) > 0
    res = find_lr(learn, end_lr=1e4, num_it=60)
    assert isinstance(res, LRFinderResult) and res.diverged  # it stopped in the middle of an epoch
    after_model, after_grads, after_opt = tensors(learn)
    assert_same(model, after_model)
    assert_same(grads, after_grads)
    assert_same(opt, after_opt)
    assert [dict(h) for h in learn.opt.hypers] == hypers
    assert [m.training for m in learn.model.modules()] == modes


def test_creates_missing_optimiser():
    learn = conv_learner()
    assert learn.opt is None
    model = [v.clone() for v in learn.model.state_dict().values()]
    find_lr(learn, end_lr=1e4, num_it=60)
    assert learn.opt is not None
    assert not any(torch.is_tensor(v) for s in learn.opt.state.values() for v in s.values())  # no Adam averages yet
    assert all(p.grad is None for p in learn.model.parameters())
    assert_same(model, list(learn.model.state_dict().values()))


def test_restores_after_an_error():
    learn = conv_learner()
    learn.create_opt()
    model = [v.clone() for v in learn.model.state_dict().values()]
    with pytest.raises(ZeroDivisionError), preserved(learn):
        for p in learn.model.parameters(): p.data.add_(1.)
        1/0
    assert_same(model, list(learn.model.state_dict().values()))


def test_schedule_and_smoothing():
    learn = conv_learner()
    res = find_lr(learn, start_lr=1e-6, end_lr=1e-2, num_it=40, stop_div=None)
    assert len(res.lrs) == 40 and not res.diverged
    assert res.lrs[0] == 1e-6
    ratios = [b/a for a, b in zip(res.lrs, res.lrs[1:])]
    assert all(math.isclose(r, 10**(4/40), rel_tol=1e-9) for r in ratios)
    # at tiny rates the model barely changes, so the bias-corrected average starts at the first loss, not near 0
    assert res.losses[0] > 1.
    ax = res.plot()
    assert ax.get_xscale() == 'log'
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f'{k}: {v:.1e}' for k, v in res.suggestions.items()]
    plt.close(ax.figure)


def test_stops_when_loss_diverges():
    res = find_lr(conv_learner(), end_lr=1e4, num_it=60)
    assert res.diverged and len(res.lrs) < 60
    assert res.losses[-1] > 4*min(res.losses)
    assert all(l <= 4*min(res.losses[:i+1]) for i, l in enumerate(res.losses[:-1]))


def test_too_short_a_curve_says_what_to_do():
    with pytest.raises(ValueError, match='Lower start_lr or raise num_it'):
        find_lr(conv_learner(), num_it=20)


def test_agrees_with_fastai():
    "Same learner, same seed: the curves agree to float32 rounding, and so do all four suggestions"
    learn = conv_learner()
    reseed(learn.dls, 42)
    ours = find_lr(learn, end_lr=1e3, num_it=60)
    reseed(learn.dls, 42)
    with learn.no_bar():
        theirs = learn.lr_find(end_lr=1e3, num_it=60, suggest_funcs=(minimum, steep, valley, slide), show_plot=False)
    assert ours.diverged
    lrs, losses = [float(v) for v in learn.recorder.lrs], [float(v) for v in learn.recorder.losses]
    assert len(ours.lrs) == len(lrs)
    for a, b in zip(ours.lrs, lrs): assert math.isclose(a, b, rel_tol=1e-6)
    for a, b in zip(ours.losses, losses): assert math.isclose(a, b, rel_tol=1e-4)
    for nm in theirs._fields: assert math.isclose(ours.suggestions[nm], getattr(theirs, nm), rel_tol=1e-4), nm
