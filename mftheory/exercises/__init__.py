"""Check functions for the book's exercises, one module per chapter.

Each ``check_*`` function takes a student's answer and returns a :class:`Feedback`: it is
truthy when the answer is right, prints as a sentence that says whether and by how much the
answer is off, and carries the numbers for autograding (``feedback.correct``,
``feedback.relative_error``).

Answers are data: any object (a string, None, a complex number, NaN, a wrongly shaped
array, a tensor) gets a not-correct Feedback that says what is wrong with it, never an
exception; a bad *parameter* of a check (which variant of the exercise to grade) raises
``ValueError`` like any function of the package. A Feedback never stores the reference value.
"""

from ._feedback import Feedback, answers_as_data, as_answer, check_number

__all__ = ["Feedback", "check_number", "as_answer", "answers_as_data"]
