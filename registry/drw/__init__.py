"""Flags inside REDCap: the two-way sync with the Data Resolution Workflow.

`plan` decides (pure), `stage` does a night's sync per opted-in site (store and
`registry.redcap.drw`).
"""
