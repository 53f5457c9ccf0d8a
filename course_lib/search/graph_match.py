"""Score query graphs against predicted scene graphs (the Lecture 05 competition from pixels).

A model's view of a picture as a scene graph (the detector's of Lecture 07, or a generated
caption read by ``course_lib.search.query_graph``) may be uncertain: objects can carry a
``score`` (a detection's confidence), a caption's graph has counts instead of repeated objects
and often no scene. ``graph_scores`` ranks pictures for query graphs with the ground truth's own
rule, ``course_lib.data.relevance.relevance_grade``, made soft by the confidences.
"""

from __future__ import annotations

import numpy as np

from course_lib.data.relevance import relevance_grade


def as_scene_graph(graph: dict) -> dict:
    """Return a query-style graph as a scene graph: counted objects repeated, attributes listed."""
    objects, first = [], []
    for o in graph["objects"]:
        first.append(len(objects))
        copy = {k: v for k, v in o.items() if k != "count"}
        copy.setdefault("attributes", [])
        objects += [dict(copy) for _ in range(o.get("count") or 1)]
    relations = [
        {**r, "subject": first[r["subject"]], "object": first[r["object"]]}
        for r in graph.get("relations", [])
    ]
    return {"scene": graph.get("scene"), "objects": objects, "relations": relations}


def _confidences(graph: dict) -> dict[str, float]:
    """Return each category of a graph with its most confident object's score (1 if none)."""
    out: dict[str, float] = {}
    for o in graph["objects"]:
        out[o["category"]] = max(out.get(o["category"], 0.0), float(o.get("score", 1.0)))
    return out


def graph_scores(graphs: list[dict], pictures: list[list[dict]]) -> np.ndarray:
    """Score query graphs against each picture's candidate scene graphs.

    A picture's score is the best, over its candidate graphs, of ``relevance_grade`` (2 full
    match, 1 partial) plus the share of query objects whose category the graph holds, weighted
    by the objects' ``score`` (a detection's confidence; 1 when absent). A graph without a scene
    is taken to be in the query's scene.
    """
    out = np.zeros((len(graphs), len(pictures)), np.float32)
    pictures = [[as_scene_graph(g) for g in cs] for cs in pictures]
    present = [[_confidences(g) for g in cs] for cs in pictures]
    for qi, query in enumerate(graphs):
        wanted = [o["category"] for o in query["objects"]]
        if not wanted:
            continue
        for pi, candidates in enumerate(pictures):
            best = 0.0
            for graph, cats in zip(candidates, present[pi], strict=True):
                soft = sum(cats.get(c, 0.0) for c in wanted) / len(wanted)
                if soft + 2 <= best:
                    continue
                grade = 0
                if all(c in cats for c in wanted):
                    scene = graph.get("scene") or query.get("scene")
                    grade = relevance_grade(query, {**graph, "scene": scene})
                best = max(best, grade + soft)
            out[qi, pi] = best
    return out
