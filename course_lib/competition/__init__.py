"""The course's text-to-image search competition, in the style of Kaggle (Lecture 05).

A gallery of held-out pictures (the collection's test split, never used for training), text
queries written together with their query graphs, graded relevance of every (query, picture)
from the scene graphs, a public/private split of the queries, a submission checker and scorer
(mAP@10, Recall@1/5/10, MRR, nDCG@10), a leaderboard and baselines. Modules: ``grammar``
(queries), ``make`` (the competition folder), ``validate`` (submission format), ``metrics``,
``scoring``, ``leaderboard``, ``baselines`` and ``cli`` (``camp competition``).
"""

from course_lib.competition.make import make_competition
from course_lib.competition.scoring import load_solution, score_file
from course_lib.competition.validate import SubmissionFormatError, read_submission

__all__ = [
    "SubmissionFormatError",
    "load_solution",
    "make_competition",
    "read_submission",
    "score_file",
]
