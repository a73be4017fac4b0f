"""A reproducible tutorial series on image classification with fastai, on the Oxford-IIIT Pet dataset

Modules:

- `pets_fastai.bench`: Throughput on this machine: fastai's defaults against our settings, as a table of ratios."""

import warnings
# fastai 2.8's layers.py calls torch.jit.script at import, which torch 2.10+ deprecates; no lesson is about it.
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)

__version__ = "0.1.0"
