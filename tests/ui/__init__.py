"""Helpers of the browser tests: the live stack and the Chromium session."""
