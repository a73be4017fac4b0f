"""GPU check for lesson 6 (nbs/06_arch.ipynb): resnet18 to resnet152 and EfficientNet-Lite0, measured on real photos.

Runs `ARCH_PLANS['gpu']` from `pets_fastai.arch` on the Oxford-IIIT Pet photos in $PETS_PATH with mixed precision:
the five resnets from scratch (a GPU machine without internet has no resnet weights) and EfficientNet-Lite0 from its
packaged ImageNet weights, each for the same number of epochs; then resnet50 once more in float32, to measure what
mixed precision saves (cuDNN may still use TF32 for float32 convolutions; the record says whether). Prints the
table, the ImageNet weights torchvision offers, and a JSON record of the run (`pets_fastai.records.new_record`); with
--out, also writes arch_gpu.json (never over an existing one) and arch_gpu.png there. A few minutes on one modern GPU.

    PETS_PATH=/path/to/oxford-iiit-pet-sample python tools/experiments/gpu_check_arch.py --out results/
"""
import argparse, json, os, sys, time
from dataclasses import asdict, replace
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, help="epochs per backbone (default: the gpu plan's)")
    parser.add_argument('--archs', help='comma-separated backbone names (default: the gpu plan\'s)')
    parser.add_argument('--sz', type=int, help="training image side (default: the gpu plan's)")
    parser.add_argument('--n-train', type=int, help='training images per epoch (default: all)')
    parser.add_argument('--n-valid', type=int, help='validation images (default: all)')
    parser.add_argument('--no-fp32', action='store_true', help='skip the float32 resnet50 run')
    parser.add_argument('--out', default=os.environ.get('OUT'), help='folder for arch_gpu.json and arch_gpu.png (default: $OUT)')
    parser.add_argument('--allow-cpu', action='store_true', help='run even without a GPU (slow: for trying the script)')
    args = parser.parse_args()

    import matplotlib
    matplotlib.use('Agg')
    import pandas as pd
    import torch
    from pets_fastai.profiles import get_profile, run_info
    from pets_fastai.records import new_record, write_json
    from pets_fastai.arch import ARCH_PLANS, plan_dls, compare_archs, arch_run, imagenet_weights, plot_error_time

    if not torch.cuda.is_available() and not args.allow_cpu:
        sys.exit("No CUDA device found: this check is meant for a GPU. Pass --allow-cpu to run it anyway (slowly).")
    if not os.environ.get('PETS_PATH'):
        sys.exit("PETS_PATH is not set: point it at a folder of Oxford-IIIT Pet photos, e.g. .../oxford-iiit-pet-sample.")

    start = time.time()
    prof = get_profile('sample')
    plan = ARCH_PLANS['gpu']
    overrides = dict(epochs=args.epochs, sz=args.sz, n_train=args.n_train, n_valid=args.n_valid)
    plan = replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    if args.archs:
        archs = tuple(args.archs.split(','))
        plan = replace(plan, archs=archs, pretrained=tuple(a for a in plan.pretrained if a in archs))
    dls = plan_dls(prof, plan)
    res = compare_archs(dls, prof, plan)
    if not args.no_fp32 and 'resnet50' in plan.archs:
        fp32 = arch_run(dls, prof, 'resnet50', replace(plan, fp16=False))
        res = pd.concat([res, pd.DataFrame([fp32]).set_index('arch').rename(index={'resnet50': 'resnet50 fp32'})])
    wall_s = time.time() - start

    pd.set_option('display.width', 200)
    print(pd.DataFrame([run_info(prof)]).T.to_string(header=False))
    print(f"\nplan: {plan}\nvalidation images: {dls.valid.n}\n")
    print(res.round(4).to_string())
    print('\nImageNet weights torchvision offers (DEFAULT is what fastai loads; the book used IMAGENET1K_V1):')
    print(imagenet_weights().to_string(index=False))
    speedup = None
    if 'resnet50 fp32' in res.index and res.loc['resnet50', 'precision'] == 'float16':
        speedup = res.loc['resnet50', 'img_per_s'] / res.loc['resnet50 fp32', 'img_per_s']
        print(f'\nresnet50 training throughput, mixed precision over float32: {speedup:.2f}x')
    elif 'resnet50 fp32' in res.index:
        print(f'\nNo mixed precision on {dls.device.type}: both resnet50 runs computed in float32, so no speed-up to report.')
    record = new_record('arch_gpu', prof, os.environ['PETS_PATH'], plan=asdict(plan),
                        cudnn_tf32=torch.backends.cudnn.allow_tf32, n_train=int(res.n_train.iloc[0]), n_valid=dls.valid.n,
                        wall_s=round(wall_s, 1), fp16_speedup_resnet50=speedup,
                        rows=json.loads(res.reset_index().to_json(orient='records')))
    print('\nresults record:')
    print(json.dumps(record, indent=1, default=str))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(json.loads(json.dumps(record, default=str)), out/'arch_gpu.json')
        fig = plot_error_time(res.dropna(subset=['error_rate']), dls.valid.n, f'{dls.device.type}: {plan.epochs} epochs, {res.n_train.iloc[0]} photos at {res.sz.iloc[0]} px')
        fig.savefig(out/'arch_gpu.png', dpi=120, bbox_inches='tight')
        print(f'wrote {out/"arch_gpu.json"} and {out/"arch_gpu.png"}')


if __name__ == '__main__': main()
