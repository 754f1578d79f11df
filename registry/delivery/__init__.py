"""Delivery: a run's reports reach the people they are for, by e-mail.

The last step of the flow pull -> store -> tidy -> quality -> analyses -> reports ->
delivery. Per site, its coordinators get that site's own files from the run's output
folder (`site-<site>.pdf`, `flags-<site>.csv`, `flags-<site>.xlsx`: picked by the site's
exact names, never another site's); per study, its PIs get `<study>.pdf`.

- `config`: the `[delivery]` settings table (read by `registry.settings`).
- `changes`: what changed in a run, per site and per study (the subject line).
- `compose`: the messages (stdlib `email.message.EmailMessage`).
- `smtp`: sending with smtplib (STARTTLS, SSL or plain), retried with backoff.
- `deliver`: the whole step for a run: compose, send (or write .eml files), record
  per recipient in the store; it never raises, so sending never fails a run.

This package's `__init__` imports nothing: `registry.settings` reads `config` without
pulling in the rest.
"""
