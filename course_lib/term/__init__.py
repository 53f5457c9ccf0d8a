"""Running a course term (course operations, introduced with Lecture 05's class competition).

What an instructor needs around the grader once a class is under way: ``similarity`` (pairs of
submissions whose graded regions look alike, with the released exercise as distribution code),
``course`` and ``deadlines`` (a course file of deadlines and a late policy, applied to a
gradebook from the submissions' git commit or file times), ``export`` (Canvas, Moodle and wide
CSV imports) and ``cli`` (the ``camp similarity``, ``camp late`` and ``camp export`` verbs).
Nothing here changes a grade that ``camp autograde`` wrote: each step writes a new file.
"""
