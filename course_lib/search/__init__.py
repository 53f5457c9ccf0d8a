"""Search plumbing around the students' engines (the folder grew with Lectures 04 and 05).

``text_retrieval`` (caption-to-caption retrieval tables, Lecture 04), ``helpers`` (plotting and
indexing helpers of Lecture 05), ``query_matching`` (query text to ImageNet classes) and
``photos`` (``camp search`` and ``camp demo`` on a folder of real photos).
"""
