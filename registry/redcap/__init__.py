"""Pulling from REDCap: the only package that imports PyCap (`redcap`)."""

from registry.redcap.client import RedcapClient, RequestTimedOut
from registry.redcap.dictionary import DictionaryChanges, compare_dictionaries
from registry.redcap.pacing import RateLimiter, limiter_for

__all__ = [
    "DictionaryChanges",
    "RateLimiter",
    "RedcapClient",
    "RequestTimedOut",
    "compare_dictionaries",
    "limiter_for",
]
