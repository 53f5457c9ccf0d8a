"""Lecture 03's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs and the named weights of the public
tests (``tests/autograder/test_03_cnn_architectures.py``, whose seeded builders it reuses) and
``camp generate`` writes the result to ``tests/autograder/expected/03_cnn_architectures.json``;
the hidden tests (``test_03_cnn_architectures_hidden.py``) run them on the student's own
blocks. Forward passes are written with ``tf.nn``, parameter counts from the lecture's formulas,
and multiply-adds read from the operations of TensorFlow's graph of a model. The family models'
multiply-adds come from the graphs of the reference solution's models.
"""

import keras
import numpy as np
import tensorflow as tf

from course_lib.grading.expected import fingerprint, public_tests
from course_lib.grading.probes.lecture_03 import graph_operations

EPS = 1e-3  # Batch-norm epsilon of the lecture's blocks (TensorFlow's default).
MOMENTUM = 0.99  # Keras' batch-norm momentum, which the lecture's blocks keep.
ROLES = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")


def _np(tensor):
    return np.asarray(tensor, dtype=np.float32)


def bn(x, params, eps=EPS, batch=False):
    """Batch norm with ``params`` (gamma, beta, moving_mean, moving_variance).

    Inference mode (moving statistics) by default; ``batch=True`` normalises with the statistics
    of ``x`` over batch and positions, as in training mode.
    """
    if batch:
        mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    else:
        mean, variance = params["moving_mean"], params["moving_variance"]
    return (x - mean) / np.sqrt(variance + eps) * params["gamma"] + params["beta"]


def moving_update(x, params, momentum=MOMENTUM):
    """The moving mean and variance after one training-mode call on ``x``, as Keras updates
    them: ``momentum · old + (1 - momentum) · batch``, with the biased variance of the batch."""
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return {
        "moving_mean": momentum * params["moving_mean"] + (1 - momentum) * mean,
        "moving_variance": momentum * params["moving_variance"] + (1 - momentum) * variance,
    }


def _recorded(trace, name, x):
    """Keep ``x``, the input of batch norm ``name``, in ``trace`` (a dict) when one is given."""
    if trace is not None:
        trace[name] = x
    return x


def conv(x, kernel, strides=1):
    return _np(tf.nn.conv2d(x, _np(kernel), strides, "SAME"))


def depthwise(x, kernel, strides=1):
    return _np(tf.nn.depthwise_conv2d(x, _np(kernel), [1, strides, strides, 1], "SAME"))


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def relu(x):
    return np.maximum(x, 0.0)


def read_weights(block, names):
    """``{name: {role: array}}`` of the sublayers ``names`` of a (student's) block."""
    weights = {}
    for name in names:
        layer = getattr(block, name, None)
        if layer is not None:
            found = {role: getattr(layer, role, None) for role in ROLES}
            weights[name] = {role: _np(v) for role, v in found.items() if v is not None}
    return weights


def residual(x, w, strides, batch=False, trace=None, eps=EPS):
    """ResNet's basic block and a few wrong variants, for targeted hints.

    ``trace``: a dict that receives the input of each batch norm, by sublayer name; ``eps``:
    the batch norms' epsilon.
    """

    def norm(h, name, **options):
        return bn(_recorded(trace, name, h), w[name], eps=eps, **options)

    h = relu(norm(conv(x, w["conv1"]["kernel"], strides), "bn1", batch=batch))
    f = norm(conv(h, w["conv2"]["kernel"]), "bn2", batch=batch)
    if "shortcut_conv" in w:
        projected = conv(x, w["shortcut_conv"]["kernel"], strides)
        shortcut = norm(projected, "shortcut_bn", batch=batch)
    else:
        shortcut = x
    bn_after_relu = bn(relu(conv(x, w["conv1"]["kernel"], strides)), w["bn1"])
    variants = {
        "no_residual": relu(f),
        "relu_before_add": relu(f) + shortcut,
        "bn_after_relu": relu(bn(conv(bn_after_relu, w["conv2"]["kernel"]), w["bn2"]) + shortcut),
    }
    if eps == EPS:  # PyTorch's default epsilon.
        variants["pytorch_epsilon"] = residual(x, w, strides, batch, eps=1e-5)[0]
    return relu(f + shortcut), variants


def inception(x, w):
    """The Inception module's output and wrong variants (branch order, unpooled projection)."""

    def conv_relu(name, inputs):
        return relu(conv(inputs, w[name]["kernel"]) + w[name]["bias"])

    pooled = _np(tf.nn.max_pool2d(x, 3, 1, "SAME"))
    branches = [
        conv_relu("branch1x1", x),
        conv_relu("branch3x3", conv_relu("branch3x3_reduce", x)),
        conv_relu("branch5x5", conv_relu("branch5x5_reduce", x)),
        conv_relu("pool_proj", pooled),
    ]
    variants = {
        "reversed": np.concatenate(branches[::-1], -1),
        "first_two_swapped": np.concatenate([branches[1], branches[0], *branches[2:]], -1),
        "unpooled": np.concatenate([*branches[:3], conv_relu("pool_proj", x)], -1),
    }
    return np.concatenate(branches, -1), variants


def mbconv(
    x,
    w,
    strides,
    activation=relu6,
    residual=None,
    project_activation=False,
    bn_first=True,
    eps=EPS,
    batch=False,
    depthwise_activation=None,
    trace=None,
):
    """The inverted-residual block with tf.nn; the keyword arguments give common mistakes.

    ``activation``: after the expansion (and the depthwise convolution, unless
    ``depthwise_activation`` is given); ``eps``: the batch norms' epsilon; ``batch=True``: batch
    norm in training mode; ``trace``: a dict that receives the input of each batch norm.
    """

    def norm(h, name):
        return bn(_recorded(trace, name, h), w[name], eps=eps, batch=batch)

    def conv_bn_act(pre, name, act):
        return act(norm(pre, name)) if bn_first else norm(act(pre), name)

    h = x
    if "expand_conv" in w:
        h = conv_bn_act(conv(h, w["expand_conv"]["kernel"]), "expand_bn", activation)
    h = depthwise(h, w["depthwise_conv"]["kernel"], strides)
    h = conv_bn_act(h, "depthwise_bn", depthwise_activation or activation)
    p = norm(conv(h, w["project_conv"]["kernel"]), "project_bn")
    if project_activation:
        p = activation(p)
    if residual is None:
        residual = strides == 1 and x.shape[-1] == p.shape[-1]
    return p + x if residual else p


def moving_stats(trace, w, momentum=MOMENTUM):
    """``{bn name: moving statistics after one training call}`` from a forward pass's ``trace``."""
    return {name: moving_update(x, w[name], momentum) for name, x in trace.items()}


def vgg(x, convs):
    """A VGG block: each convolution of ``convs`` (with bias, ReLU), then 2×2 max pooling."""
    for params in convs.values():
        x = relu(conv(x, params["kernel"]) + params["bias"])
    return _np(tf.nn.max_pool2d(x, 2, 2, "VALID"))


def family_forward(family, x, w, batch=False, pooling="average", stem=relu, stage_pool="max"):
    """A family model of the lecture's table on weights ``w`` (stem, blocks, logits).

    ``batch=True``: the blocks' batch norms in training mode. The other keywords give common
    mistakes: ``pooling="max"`` (global max pooling), ``stem`` (the stem's activation),
    ``stage_pool="average"`` (the Inception stages' pooling).
    """
    h = stem(conv(x, w["stem"]["kernel"]) + w["stem"]["bias"])
    for index, block in enumerate(w["blocks"]):
        strides = 2 if index % 2 == 0 else 1  # ResNet and MobileNet: two blocks per stage.
        if family == "vgg":
            h = vgg(h, block)
        elif family == "resnet":
            h = residual(h, block, strides, batch=batch)[0]
        elif family == "inception":
            pool = tf.nn.max_pool2d if stage_pool == "max" else tf.nn.avg_pool2d
            h = _np(pool(inception(h, block)[0], 2, 2, "VALID"))
        else:
            h = mbconv(h, block, strides, batch=batch)
    pooled = h.mean(axis=(1, 2)) if pooling == "average" else h.max(axis=(1, 2))
    return pooled @ w["logits"]["kernel"] + w["logits"]["bias"]


def family_outputs(family, x, w):
    """Inference and training outputs of a family model, and wrong variants' fingerprints."""
    variants = {
        "max_pooling": family_forward(family, x, w, pooling="max"),
        "linear_stem": family_forward(family, x, w, stem=lambda h: h),
    }
    if family == "inception":
        variants["average_stage_pool"] = family_forward(family, x, w, stage_pool="average")
    return {
        "inference": family_forward(family, x, w),
        "training": family_forward(family, x, w, batch=True),
    } | {name: fingerprint(value) for name, value in variants.items()}


# The mistakes test_inverted_residual_matches_tf_nn recognises, by the key of its message.
MBCONV_MISTAKES = {
    "residual": {"residual": False},
    "project_activation": {"project_activation": True},
    "bn_first": {"bn_first": False},
    "relu": {"activation": relu},
    "depthwise_relu": {"depthwise_activation": relu},
    "expand_relu": {"activation": relu, "depthwise_activation": relu6},
    "training": {"batch": True},
    "epsilon": {"eps": EPS},
}


def bn_params(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


def mbconv_params(in_channels, filters, expand_ratio, kernel_size):
    hidden = in_channels * expand_ratio
    expand = 0 if expand_ratio == 1 else in_channels * hidden + bn_params(hidden)
    return (
        expand + kernel_size**2 * hidden + bn_params(hidden) + hidden * filters + bn_params(filters)
    )


def multiply_adds(operations):
    """Multiply-adds of Conv2D, DepthwiseConv2dNative and MatMul ops of a graph.

    ``operations``: the records of ``graph_operations`` (type, input and output shapes).
    """
    total = 0
    for op in operations:
        if op["type"] == "Conv2D":
            out, kernel = op["outputs"][0], op["inputs"][1]
            total += out[1] * out[2] * out[3] * kernel[0] * kernel[1] * kernel[2]
        elif op["type"] == "DepthwiseConv2dNative":
            out, kernel = op["outputs"][0], op["inputs"][1]
            total += out[1] * out[2] * out[3] * kernel[0] * kernel[1]
        elif op["type"] == "MatMul":
            a, out = op["inputs"][0], op["outputs"][0]
            inner = a[0] if op["transpose_a"] else a[1]
            total += out[0] * out[1] * inner
    return int(total)


def graph_multiply_adds(model, input_shape):
    """Multiply-adds in the graph of a model, traced here."""
    return multiply_adds(graph_operations(model, input_shape))


def family_params(family, in_channels, classes, width, stages):
    """Weights of a family model as the lecture's table describes it, from the formulas."""

    def conv_params(k, c, f, bias=True):
        return k * k * c * f + (f if bias else 0)

    total, c_in = conv_params(3, in_channels, width), width  # The stem.
    for stage in range(stages):
        c = width * 2**stage
        if family == "vgg":
            total += conv_params(3, c_in, c) + conv_params(3, c, c)
        elif family == "resnet":  # Strided block with a projection, then an identity block.
            total += conv_params(3, c_in, c, False) + conv_params(1, c_in, c, False)
            total += 3 * conv_params(3, c, c, False) + 5 * bn_params(c)
        elif family == "inception":
            total += conv_params(1, c_in, c // 4) + conv_params(1, c_in, c // 4)
            total += conv_params(3, c // 4, c // 2) + conv_params(1, c_in, c // 8)
            total += conv_params(5, c // 8, c // 8) + conv_params(1, c_in, c // 8)
        else:
            total += mbconv_params(c_in, c, 6, 3) + mbconv_params(c, c, 6, 3)
        c_in = c
    return total + conv_params(1, c_in, classes)  # The Dense layer of logits.


def lite0_params(stages, num_classes=1000):
    total = 27 * 32 + bn_params(32)
    in_channels = 32
    for expand_ratio, kernel_size, _, filters, repeats in stages:
        for _ in range(repeats):
            total += mbconv_params(in_channels, filters, expand_ratio, kernel_size)
            in_channels = filters
    return total + 320 * 1280 + bn_params(1280) + 1280 * num_classes + num_classes


def lite0_forward(x, state, stages, batch=False, trace=None):
    """EfficientNet-Lite0 on a PyTorch-named state dict: (stem, head, logits).

    ``batch=True``: every batch norm in training mode; ``trace``: a dict that receives the
    input of each batch norm, by PyTorch name.
    """

    def kernel(name):
        return state[f"{name}.weight"].transpose(2, 3, 1, 0)

    def norm(h, name):
        s = {k: state[f"{name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        params = {"gamma": s["weight"], "beta": s["bias"]}
        params |= {"moving_mean": s["running_mean"], "moving_variance": s["running_var"]}
        return bn(_recorded(trace, name, h), params, batch=batch)

    h = stem = relu6(norm(conv(x, kernel("_conv_stem"), 2), "_bn0"))
    index, in_channels = 0, 32
    for expand_ratio, _, stride, filters, repeats in stages:
        for repeat in range(repeats):
            p, step = f"_blocks.{index}.", stride if repeat == 0 else 1
            y = h
            if expand_ratio != 1:
                y = relu6(norm(conv(y, kernel(p + "_expand_conv")), p + "_bn0"))
            dw = state[p + "_depthwise_conv.weight"].transpose(2, 3, 0, 1)
            y = relu6(norm(depthwise(y, dw, step), p + "_bn1"))
            y = norm(conv(y, kernel(p + "_project_conv")), p + "_bn2")
            h = y + h if step == 1 and in_channels == filters else y
            in_channels, index = filters, index + 1
    head = relu6(norm(conv(h, kernel("_conv_head")), "_bn1"))
    logits = head.mean(axis=(1, 2)) @ state["_fc.weight"].T + state["_fc.bias"]
    return stem, head, logits


def _with_prints(output, variants):
    return {"out": output} | {name: fingerprint(value) for name, value in variants.items()}


def expected():
    """The reference's values on the public tests' fixed inputs and named weights."""
    from course_lib.student.lectures import lecture_module

    t = public_tests("03")
    values = {}
    x = t._images((2, 6, 6, 8), 2)
    weights = t._named_weights(t._residual_layout(8, 8, 1), 2)
    values["residual_identity"] = _with_prints(*residual(x, weights, 1))
    values["residual_projection"] = []
    for strides, in_channels in [(2, 8), (1, 4)]:
        x = t._images((2, 6, 6, in_channels), 3)
        weights = t._named_weights(t._residual_layout(in_channels, 16, strides), 3 + strides)
        values["residual_projection"].append(_with_prints(*residual(x, weights, strides)))
    x = t._images((2, 7, 7, 6), 4) * 4
    weights = t._named_weights(t._inception_layout(6, 4, 3, 5, 2, 3, 2), 4)
    values["inception"] = _with_prints(*inception(x, weights))
    values["inverted_residual_params"] = [
        mbconv_params(c, f, t_, k) for c, f, t_, k, _ in t.MBCONV_SHAPES
    ]
    values["inverted_residual"] = []
    for in_channels, filters, expand_ratio, kernel_size, strides, eps in t.MBCONV_CASES:
        x = t._images((2, 7, 7, in_channels), 7) * 3
        layout = t._mbconv_layout(in_channels, filters, expand_ratio, kernel_size)
        weights = t._named_weights(layout, 7, scale=0.6)
        out = mbconv(x, weights, strides, eps=eps)
        mistakes = {
            key: mbconv(x, weights, strides, **{"eps": eps, **mistake})
            for key, mistake in MBCONV_MISTAKES.items()
        }
        values["inverted_residual"].append(_with_prints(out, mistakes))
    x = t._images((4, 5, 7, 8), 9)
    weights, trace = t._named_weights(t._residual_layout(8, 16, 2), 20), {}
    out = residual(x, weights, 2, batch=True, trace=trace)[0]
    training = {"residual": {"out": out, "moving": moving_stats(trace, weights)}}
    weights, trace = t._named_weights(t._mbconv_layout(8, 8, 3, 3), 21), {}
    out = mbconv(x, weights, 1, batch=True, trace=trace)
    training["inverted_residual"] = {"out": out, "moving": moving_stats(trace, weights)}
    values["batch_norm_training"] = training
    values["layer_multiply_adds"] = [
        graph_multiply_adds(keras.Sequential([keras.Input(shape), layer]), shape)
        for layer, shape in t._counted_layers(keras)
    ]
    values["count_flops"] = graph_multiply_adds(t._flops_model(keras), (16, 16, 3))
    solution = lecture_module("03", prefer_student=False, quiet=True)
    keras.utils.set_random_seed(0)
    values["family_table"] = {
        family: {
            "params": family_params(family, 3, 5, 8, 2),
            "flops": graph_multiply_adds(
                solution.build_family_model(family, (16, 16, 3), 5, 8, 2), (16, 16, 3)
            ),
        }
        for family in ("vgg", "resnet", "inception", "mobilenet")
    }
    shape, classes, width, stages = t.FAMILY_SETTINGS
    x = t._images((2, *shape), 40) * 4
    values["family_models"] = {
        family: family_outputs(
            family, x, t._family_weights(family, shape[-1], classes, width, stages)
        )
        for family in t.FAMILIES
    }
    values["lite0_params"] = lite0_params(t.LITE0_STAGES, 10)
    stem, head, logits = lite0_forward(
        t._images((2, 64, 64, 3), 21), t._lite0_state(), t.LITE0_STAGES
    )
    values["lite0_forward"] = {
        "stem": fingerprint(stem),
        "head": fingerprint(head),
        "logits": logits,
    }
    state, trace = t._lite0_state(), {}
    stem, head, _ = lite0_forward(
        t._images((2, 64, 96, 3), 23), state, t.LITE0_STAGES, batch=True, trace=trace
    )
    values["lite0_training"] = {"stem": fingerprint(stem), "head": fingerprint(head)}
    for name, torch_name in (("stem_bn", "_bn0"), ("head_bn", "_bn1")):
        params = {"moving_mean": state[f"{torch_name}.running_mean"]}
        params["moving_variance"] = state[f"{torch_name}.running_var"]
        for role, value in moving_update(trace[torch_name], params).items():
            values["lite0_training"][f"{name}.{role}"] = fingerprint(value)
    return values
