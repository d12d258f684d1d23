"""``python -m lti_tool`` is the same as the ``adaptive-lti`` console script."""

from lti_tool.cli import main

main(prog_name="adaptive-lti")
