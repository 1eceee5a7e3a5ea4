"""Check functions for the book's exercises, one module per chapter.

Each ``check_*`` function takes a student's answer and returns a :class:`Feedback`: it is
truthy when the answer is right, prints as a sentence that says whether and by how much the
answer is off, and carries the numbers for autograding (``feedback.correct``,
``feedback.relative_error``).
"""

from ._feedback import Feedback, check_number

__all__ = ["Feedback", "check_number"]
