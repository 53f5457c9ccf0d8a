"""The quiz bank, terminal quiz, spaced repetition and exports (``camp quiz``; all lectures).

Modules: ``formula`` (safe formulas, parameters), ``bank`` (schema, loading, validation),
``render`` (one instance of a question, checking answers), ``session`` (the terminal quiz),
``history`` (SQLite and FSRS), ``export`` (Moodle XML, GIFT, Anki) and ``cli`` (the Typer app).
"""
