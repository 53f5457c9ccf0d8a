"""The grading engine (introduced with Lecture 01): judge, runner, protocol, sandbox, class.

Student code runs in a *runner*, a separate, sandboxed, unprivileged process; pytest, the test
files, the expected values and the report stay in the *judge*, which never imports student code.
Plain data crosses between them (``protocol``); see ``remote`` and ``runner``.
"""
