"""PyTorch (cuDNN) twins of fcnkit's FCN-8s and U-Net, timed on the GPU for bench/gpu/compare.js.

The layers are those of ts/models/fcn.ts and ts/models/unet.ts, with the very weights fcnkit used
(a float32 blob and a JSON manifest written by compare.js, parameter names as fcnkit's
`Model.getWeights()`), so the outputs can be compared: compare.js asks for the fp32 output of one
input and checks fcnkit's CUDA output against it.

  python3 torch_models.py --dir DIR --model fcn8s|unet --batches 1,8 --precisions fp32,tf32 --runs 10

DIR holds weights.json / weights.bin (the parameters), input-<batch>.bin (float32 NCHW) and, for
the check, writes torch-out-1.bin (the fp32 output of batch 1). Prints one JSON line: per batch and
precision the median milliseconds of
  device: x already on the GPU, model(x), synchronised (CUDA events);
  host:   x.cuda(), model(x), .cpu() - what an fcnkit run does (input and output cross the bus).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def scale_width(w, m):
    # ts/models/fcn.ts scaleWidth: round, at least 1 (JS Math.round: halves up).
    return max(1, int(np.floor(w * m + 0.5)))


def crop(x, oy, ox, h, w):
    return x[:, :, oy:oy + h, ox:ox + w]


def escaped(name):
    # Module names may not hold dots: 'down1.conv1' is registered as 'down1__conv1'.
    return name.replace(".", "__")


class Net(nn.Module):
    """Layers registered under fcnkit's layer names, so fcnkit's parameter names find them."""

    def add(self, name, module):
        self.add_module(escaped(name), module)

    def L(self, name):
        return getattr(self, escaped(name))


class Fcn8s(Net):
    # ts/models/fcn.ts, variant '8s': VGG16 (conv1_1 padded by 100, ceil-mode pools), fc6 7x7,
    # fc7 1x1, score_fr, skips from pool4 and pool3, bias-free deconvolution upsamplers, crops at
    # FCN_CROP_OFFSETS['8s'] = 5, 9, 31.
    def __init__(self, classes=21, in_ch=3, width=1.0):
        super().__init__()
        widths = [(scale_width(w, width), n) for w, n in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]]
        fc = scale_width(4096, width)
        c = in_ch
        for b, (w, n) in enumerate(widths):
            for i in range(1, n + 1):
                self.add(f"conv{b + 1}_{i}", nn.Conv2d(c, w, 3, padding=100 if (b == 0 and i == 1) else 1))
                c = w
        self.add("fc6", nn.Conv2d(c, fc, 7))
        self.add("fc7", nn.Conv2d(fc, fc, 1))
        self.add("score_fr", nn.Conv2d(fc, classes, 1))
        self.add("upscore2", nn.ConvTranspose2d(classes, classes, 4, 2, bias=False))
        self.add("score_pool4", nn.Conv2d(widths[3][0], classes, 1))
        self.add("upscore_pool4", nn.ConvTranspose2d(classes, classes, 4, 2, bias=False))
        self.add("score_pool3", nn.Conv2d(widths[2][0], classes, 1))
        self.add("upscore8", nn.ConvTranspose2d(classes, classes, 16, 8, bias=False))
        self.blocks = [(b + 1, n) for b, (w, n) in enumerate(widths)]

    def forward(self, x):
        L = self.L
        h, w = x.shape[2], x.shape[3]
        pools = []
        for b, n in self.blocks:
            for i in range(1, n + 1):
                x = F.relu(L(f"conv{b}_{i}")(x))
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            pools.append(x)
        pool3, pool4 = pools[2], pools[3]
        x = F.relu(L("fc6")(x))
        x = F.relu(L("fc7")(x))
        x = L("score_fr")(x)
        up2 = L("upscore2")(x)
        sp4 = L("score_pool4")(pool4)
        x = up2 + crop(sp4, 5, 5, up2.shape[2], up2.shape[3])
        up4 = L("upscore_pool4")(x)
        sp3 = L("score_pool3")(pool3)
        x = up4 + crop(sp3, 9, 9, up4.shape[2], up4.shape[3])
        x = L("upscore8")(x)
        return crop(x, 31, 31, h, w)


class UnetValid(Net):
    # ts/models/unet.ts, padding 'valid', no batch norm: two unpadded 3x3 conv + ReLU per level,
    # 2x2/2 max pools, 2x2/2 up-convolutions with bias, the skip cropped to the centre
    # (floor((in - out) / 2)) and concatenated before the up-convolution's output, a 1x1 classifier.
    def __init__(self, in_ch=1, classes=2, levels=5, base=64, width=1.0):
        super().__init__()
        self.levels = levels
        widths = [scale_width(base * 2 ** i, width) for i in range(levels)]
        c = in_ch
        for i in range(1, levels + 1):
            w = widths[i - 1]
            self.add(f"down{i}.conv1", nn.Conv2d(c, w, 3))
            self.add(f"down{i}.conv2", nn.Conv2d(w, w, 3))
            c = w
        for j in range(1, levels):
            w = widths[levels - j - 1]
            self.add(f"up{j}.upconv", nn.ConvTranspose2d(c, w, 2, 2))
            self.add(f"up{j}.conv1", nn.Conv2d(w + w, w, 3))
            self.add(f"up{j}.conv2", nn.Conv2d(w, w, 3))
            c = w
        self.add("final", nn.Conv2d(c, classes, 1))

    def forward(self, x):
        L = self.L
        skips = []
        for i in range(1, self.levels + 1):
            x = F.relu(L(f"down{i}.conv2")(F.relu(L(f"down{i}.conv1")(x))))
            if i < self.levels:
                skips.append(x)
                x = F.max_pool2d(x, 2, 2)
        for j in range(1, self.levels):
            up = L(f"up{j}.upconv")(x)
            s = skips[self.levels - j - 1]
            oy = (s.shape[2] - up.shape[2]) // 2
            ox = (s.shape[3] - up.shape[3]) // 2
            x = torch.cat([crop(s, oy, ox, up.shape[2], up.shape[3]), up], 1)
            x = F.relu(L(f"up{j}.conv2")(F.relu(L(f"up{j}.conv1")(x))))
        return L("final")(x)


def load_weights(model, d):
    manifest = json.load(open(os.path.join(d, "weights.json")))
    blob = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.float32)
    params = dict(model.named_parameters())
    seen = set()
    for p in manifest["params"]:
        # fcnkit 'down1.conv1.weight' -> torch 'down1__conv1.weight'
        layer, kind = p["name"].rsplit(".", 1)
        key = escaped(layer) + "." + kind
        t = params[key]
        data = blob[p["offset"]:p["offset"] + int(np.prod(p["shape"]))].reshape(p["shape"])
        if list(t.shape) != list(data.shape):
            raise SystemExit(f"shape mismatch for {p['name']}: torch {list(t.shape)} fcnkit {list(data.shape)}")
        with torch.no_grad():
            t.copy_(torch.from_numpy(data))
        seen.add(key)
    missing = set(params) - seen
    if missing:
        raise SystemExit(f"parameters fcnkit did not provide: {sorted(missing)}")


def median_ms(fn, runs):
    times = []
    for _ in range(runs):
        times.append(fn())
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--model", required=True, choices=["fcn8s", "unet"])
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--precisions", default="fp32,tf32")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--width", type=float, default=1.0, help="widthMultiplier (dry runs only)")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of the script (timings meaningless)")
    a = ap.parse_args()

    dev = torch.device(a.device)
    gpu = dev.type == "cuda"
    torch.backends.cudnn.benchmark = True
    model = Fcn8s(width=a.width) if a.model == "fcn8s" else UnetValid(width=a.width)
    load_weights(model, a.dir)
    model = model.to(dev).eval()

    out = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name(0) if gpu else "cpu", "results": []}
    for prec in a.precisions.split(","):
        tf32 = prec == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        for b in [int(v) for v in a.batches.split(",")]:
            x_host = torch.from_numpy(np.fromfile(os.path.join(a.dir, f"input-{b}.bin"), dtype=np.float32).reshape(b, a.channels, a.size, a.size))
            x_dev = x_host.to(dev)
            with torch.inference_mode():
                for _ in range(3):
                    y = model(x_dev)
                sync = torch.cuda.synchronize if gpu else (lambda: None)
                sync()
                if prec == "fp32" and b == 1:
                    y.float().cpu().numpy().tofile(os.path.join(a.dir, "torch-out-1.bin"))

                def device_once():
                    if not gpu:
                        t0 = time.perf_counter()
                        model(x_dev)
                        return (time.perf_counter() - t0) * 1000
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    model(x_dev)
                    e.record()
                    e.synchronize()
                    return s.elapsed_time(e)

                def host_once():
                    sync()
                    t0 = time.perf_counter()
                    model(x_host.to(dev)).cpu()
                    return (time.perf_counter() - t0) * 1000

                out["results"].append({"precision": prec, "batch": b, "device_ms": median_ms(device_once, a.runs), "host_ms": median_ms(host_once, a.runs)})
            del x_dev
            if gpu:
                torch.cuda.empty_cache()
    print("TORCH " + json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
