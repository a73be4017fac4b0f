"""A reproducible tutorial series on image classification with fastai, on the Oxford-IIIT Pet dataset

Modules:

- `pets_fastai.bench`: Throughput on this machine: fastai's defaults against our settings, as a table of ratios."""

__version__ = "0.1.0"
