"""The course's synthetic photo collection (used from Lecture 02 on) and COCO-format data.

Pictures of everyday scenes (beach, park, street, snow, kitchen table, lake, living room) with
1-5 objects drawn from the Noto Color Emoji pictures, each with its scene graph and five captions
in COCO's style, written to disk in COCO's format::

    from course_lib.data import make_split, read_split, relevance
    make_split("data/generated/camp", "val", num_images=1000, seed=0)

The modules: ``sprites`` (the object pictures), ``backgrounds`` and ``layout`` and ``scenes``
(pictures and scene graphs), ``words`` and ``captions``, ``writer`` (COCO files), ``relevance``
(does a picture match a structured query), ``show`` (contact sheets) and ``cli`` (``camp data``).
Nothing here imports TensorFlow.
"""

from course_lib.data.captions import captions_for
from course_lib.data.relevance import Query, parse_query, relevance, relevance_grade
from course_lib.data.scenes import PREDICATES, SCENE_NAMES, generate_scene
from course_lib.data.writer import DEFAULT_SIZES, SPLITS, generate_item, make_split, read_split

__all__ = [
    "DEFAULT_SIZES",
    "PREDICATES",
    "SCENE_NAMES",
    "SPLITS",
    "Query",
    "captions_for",
    "generate_item",
    "generate_scene",
    "make_split",
    "parse_query",
    "read_split",
    "relevance",
    "relevance_grade",
]
