"""adaptive-lti: an LTI 1.3 Advantage tool with an adaptive practice engine."""

__version__ = "0.1.0"
