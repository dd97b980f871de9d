"""Imports every domain's email kinds, so the renderer knows them all."""
import lms.enrollment.emails  # noqa: F401
import lms.programs.emails  # noqa: F401
