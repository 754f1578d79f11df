"""registry: nightly pull, validation, analysis and reporting for REDCap registries."""

__version__ = "0.1.0"
