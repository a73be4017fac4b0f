"""A second device simulated on the CPU, so that the CPU suite catches what only a GPU would show.

CI has no GPU, and on a CPU everything lives on one device: a model left on the CPU while its batches are on the
GPU goes unnoticed until a reader runs the lesson on CUDA. This module registers `fakegpu`, a pure-Python device
behind PyTorch's PrivateUse1 key (`torch.utils.backend_registration`). Its tensors keep their data in CPU tensors,
one fallback kernel runs every operation on those, and an operation that mixes a `fakegpu` tensor with a CPU
tensor of one or more dimensions raises the error CUDA raises. `use_fake_device()` then points fastai's
`default_device` at it, so `DataLoaders` put their batches there, exactly as on a GPU.

`use_mixed_precision()` is the other half of the GPU path: fastai's `MixedPrecision` with CPU float16 autocast,
which `pets_learner` then adds as it does on CUDA, so comparisons across precisions meet float16's rounding.

    python tests/fake_device.py 03_loss 09_recipe      # notebooks at `smoke`, their batches on `fakegpu`
    python tests/fake_device.py --amp 06_arch 11_deploy # the same notebooks under float16 mixed precision
    python tests/fake_device.py -m pets_fastai.cli train --resume RUN   # a module as `python -m` runs it

It uses private PyTorch hooks, so it is pinned to the torch it was written against (`TESTED_TORCH`); elsewhere
`supported()` says why not and the tests skip. It models neither asynchrony, CUDA-only calls (synchronize, memory
counters, CUDA's random generators), cuDNN's nondeterminism, nor workers forked after CUDA starts: it finds device
mix-ups early, and `make test-gpu` on a real GPU remains the check of the rest.
"""
import os, runpy, sys, time
from pathlib import Path

import torch
from torch.utils._pytree import tree_flatten, tree_map

NAME = 'fakegpu'
TESTED_TORCH = ('2.14',)  # the torch releases this module was written and tested against (PrivateUse1's Python hooks)

def supported()->str|None:
    "None where the fake device works with this torch, else why not"
    v = torch.__version__.split('+')[0]
    if not v.startswith(TESTED_TORCH):
        return f'the fake device is tested with torch {", ".join(TESTED_TORCH)}.x only; this is torch {v}'
    return None

# Operations that may see a CPU tensor beside device tensors, as on CUDA: copies between devices, CPU index tensors.
CROSS_DEVICE = {'aten::copy_', 'aten::_to_copy', 'aten::_copy_from', 'aten::_copy_from_and_resize', 'aten::index.Tensor',
                'aten::index_put_', 'aten::_index_put_impl_', 'aten::index_put', 'aten::set_', 'aten::lift_fresh'}
mismatches = []  # the operations that mixed devices, newest last

def is_fake(t)->bool: return isinstance(t, torch.Tensor) and t.device.type == NAME

def _wrap(raw:torch.Tensor)->torch.Tensor:
    "A `fakegpu` tensor holding CPU tensor `raw`"
    t = torch._C._acc.create_empty_tensor(list(raw.shape), raw.dtype)
    t.untyped_storage()._raw = raw
    return t

def _unwrap(t):
    "The CPU tensor behind `t` (viewed as `t` is), or `t` itself if it is not a `fakegpu` tensor"
    if not is_fake(t): return t
    raw = t.untyped_storage()._raw
    if tuple(t.shape) == tuple(raw.shape) and t.storage_offset() == 0 and t.stride() == torch.empty(raw.shape).stride():
        return raw
    if not raw.is_contiguous(): raise NotImplementedError(f'{NAME}: a view of a non-contiguous tensor')
    return raw.as_strided(t.shape, t.stride(), raw.storage_offset() + t.storage_offset())  # a view made by a composite kernel

def _on_fake(v)->bool: return (isinstance(v, torch.device) and v.type == NAME) or (isinstance(v, str) and v.startswith(NAME))

def _arg(schema, i:int, a, args, kwargs): return kwargs.get(a.name) if a.kwarg_only or i >= len(args) else args[i]

def _fallback(op, *args, **kwargs):
    "Run `op` on the CPU tensors behind its `fakegpu` arguments, refusing CPU and `fakegpu` tensors mixed"
    name, flat = op.name(), tree_flatten((args, kwargs))[0]
    if name not in CROSS_DEVICE and any(map(is_fake, flat)) and any(
            isinstance(t, torch.Tensor) and t.device.type == 'cpu' and t.dim() > 0 for t in flat):
        mismatches.append(name)
        raise RuntimeError(f'Expected all tensors to be on the same device, but found at least two devices, {NAME}:0 and '
                           f'cpu! ({NAME}, in {name})')
    to_fake = True
    if kwargs.get('device') is not None: to_fake, kwargs = _on_fake(kwargs['device']), {**kwargs, 'device': torch.device('cpu')}
    if name == 'aten::copy_': _unwrap(args[0]).copy_(_unwrap(args[1]), *args[2:]); return args[0]
    if name == 'aten::_copy_from': _unwrap(args[1]).copy_(_unwrap(args[0])); return args[1]
    if name == 'aten::as_strided':  # sizes and strides are relative to the fake tensor's own contiguous layout
        raw = _unwrap(args[0]).contiguous()
        off = args[3] if len(args) > 3 and args[3] is not None else kwargs.get('storage_offset') or 0
        return _wrap(raw.as_strided(args[1], args[2], raw.storage_offset() + off))
    out, s = op(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs)), op._schema
    for i, a in enumerate(s.arguments):  # an `out=` or in-place argument the CPU op resized gets the new shape
        v = _arg(s, i, a, args, kwargs) if a.alias_info is not None and a.alias_info.is_write else None
        if is_fake(v) and tuple(v.shape) != tuple(v.untyped_storage()._raw.shape) and v.storage_offset() == 0:
            v.data = _wrap(v.untyped_storage()._raw)
    if not to_fake: return out
    res = tree_map(lambda o: _wrap(o) if isinstance(o, torch.Tensor) and o.device.type == 'cpu' else o, out)
    if not any(r.alias_info is not None and r.alias_info.is_write for r in s.returns): return res
    written = {frozenset(a.alias_info.before_set): _arg(s, i, a, args, kwargs) for i, a in enumerate(s.arguments) if a.alias_info is not None}
    outs = list(res) if len(s.returns) > 1 else [res]  # a result that aliases a written argument is that argument
    outs = [written.get(frozenset(r.alias_info.before_set), o) if r.alias_info is not None and r.alias_info.is_write else o
            for r, o in zip(s.returns, outs)]
    return tuple(outs) if len(s.returns) > 1 else outs[0]

_registered = []

def register()->torch.device:
    "Register the `fakegpu` device in this process (once) and return it"
    if _registered: return _registered[0]
    if why := supported(): raise RuntimeError(why)
    import torch.utils.backend_registration as br
    br._setup_privateuseone_for_python_backend(rename=NAME)
    lib, aten = torch.library.Library('_', 'IMPL'), torch.library.Library('aten', 'IMPL')
    lib.fallback(_fallback, 'PrivateUse1')
    # ops whose composite kernels would reach an unimplemented `*_overrideable`: send them to the fallback too
    for q in ('convolution', 'convolution_backward', 'affine_grid_generator', 'unsqueeze_', 'squeeze_', 'as_strided_',
              'transpose_', 't_', 'grid_sampler_2d', 'grid_sampler_2d_backward'):
        packet = getattr(torch.ops.aten, q)
        for o in packet.overloads():
            op = getattr(packet, o)
            aten.impl(q if o == 'default' else f'{q}.{o}', (lambda op: lambda *a, **k: _fallback(op, *a, **k))(op), 'PrivateUse1')
    _registered.extend([torch.device(NAME, 0), lib, aten])
    # CUDA and CPU tensors share a TensorImpl type, so Module.to() keeps each Parameter; this device's do not, so
    # Module._apply swaps tensors in place instead, and optimisers keep pointing at the model's parameters.
    torch.__future__.set_swap_module_params_on_conversion(True)
    has_storage = torch._C._has_storage  # pickling and deepcopy: treated like backend tensors without storage
    torch._C._has_storage = lambda t: False if is_fake(t) else has_storage(t)
    load = torch.load
    def fake_load(f, map_location=None, *args, **kwargs):  # storages cannot be made on this device: load, then move
        if not _on_fake(map_location): return load(f, map_location, *args, **kwargs)
        return tree_map(lambda o: o.to(_registered[0]) if isinstance(o, torch.Tensor) else o, load(f, 'cpu', *args, **kwargs))
    torch.load = fake_load
    return _registered[0]

def use_fake_device()->torch.device:
    "Make fastai's `default_device` (and every module that imported it) answer `fakegpu`"
    dev = register()
    import fastai.vision.all  # noqa: F401  every fastai module that binds `default_device` is imported now
    import fastai.torch_core as tc
    import pets_fastai.profiles, pets_fastai.learner  # noqa: F401
    orig = tc.default_device
    def default_device(use=-1):
        "fastai's rule, with `fakegpu` where it would pick a GPU"
        if use == -1: use = tc.defaults.use_cuda
        return torch.device('cpu') if use is False else dev
    for m in list(sys.modules.values()):
        if getattr(m, 'default_device', None) is orig: m.default_device = default_device
    return dev

def use_mixed_precision():
    "fastai's `MixedPrecision` with CPU float16 autocast, added by `pets_learner` as it is on CUDA"
    import fastai.callback.fp16 as fp16
    from fastcore.foundation import L
    import pets_fastai.learner as pl
    def before_fit(self):
        self.kwargs['enabled'] = True
        self.autocast, self.learn.scaler, self.scales = torch.autocast('cpu', dtype=torch.float16), torch.amp.GradScaler('cpu', **self.kwargs), L()
    fp16.MixedPrecision.before_fit = before_fit
    pl.speed_defaults = lambda learn: learn.to_fp16()  # `pets_learner` looks the name up in its own module

def main(argv:list[str]):
    "Run notebooks (names in nbs/ without .ipynb, or paths) or, after -m, a module, on the fake device (--amp: mixed precision)"
    amp, argv = '--amp' in argv, [a for a in argv if a != '--amp']
    os.environ.setdefault('PETS_PROFILE', 'smoke'); os.environ.setdefault('MPLBACKEND', 'Agg')
    if amp: use_mixed_precision()
    else: use_fake_device()
    if argv[:1] == ['-m']:
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name='__main__', alter_sys=True)
        return 0
    from nbdev.config import get_config
    from nbdev.test import test_nb
    root = Path(__file__).resolve().parent.parent
    failed = []
    for nb in argv:
        start = time.time()
        ok, _ = test_nb(Path(nb) if nb.endswith('.ipynb') else root/'nbs'/f'{nb}.ipynb', skip_flags=get_config(root).tst_flags.split(), basepath=root, cell_timeout=900)
        print(f"=== {nb}: {'passed' if ok else 'FAILED'} in {time.time() - start:.0f} s"
              + ('' if amp or ok else f'; device mix-ups in {mismatches[-3:]}'), flush=True)
        if not ok: failed.append(nb)
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
