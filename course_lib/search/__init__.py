"""Search plumbing around the students' engines (the folder grew with Lectures 04, 05 and 07).

``text_retrieval`` (caption-to-caption retrieval tables, Lecture 04), ``helpers`` (collection,
queries and model outputs for Lecture 05's engines), ``query_graph`` (query text to a query
graph), ``graph_match`` (query graphs against predicted scene graphs), ``query_matching`` (query
text to ImageNet classes) and ``photos`` (``camp search`` and ``camp demo`` on real photos).
"""
