"""A reproducible tutorial series on image classification with fastai, on the Oxford-IIIT Pet dataset"""

__version__ = "0.1.0"
