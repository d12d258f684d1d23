"""A small LMS simulator: plays an LTI 1.3 platform for `adaptive-lti dev` and for the test suite."""
