"""What `registry sandbox --write-settings PATH` writes beside a running sandbox.

- `PATH` (settings.toml): the store and reports under PATH's folder, one `[[sites]]`
  per data access group (or one site for a project without DAGs; plus a site `no_dag`,
  `dag = ""` with the project-wide token, when some records are in no DAG), each reading its
  token from `sandbox.tokens` beside it (owner-only, mode 600 from the first byte);
- for the synthetic registry: its suites and study from this repository;
- for a project served from a folder: `expectations/_dictionary.json` (the default
  severities of the dictionary-derived checks, to adjust) and `profile.toml`, a
  starting registry profile with what REDCap cannot say left for the user to
  complete: which form holds the patient-level facts, which fields play the roles the
  domain suites and studies need (guessed from names where a date field looks like
  one, and marked so), and the frame names. Its format is the `core` helper's
  (`registry/profile.py`; docs/design.md "The registry profile").
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from registry.sandbox.project import Project
from registry.sandbox.tokens import Tokens

if TYPE_CHECKING:
    from registry.sandbox.server import SandboxServer

__all__ = ["profile_text", "settings_text", "token_file_text", "write_private",
           "write_sandbox_settings"]

_REPO = Path(__file__).resolve().parents[2]
_ANTI_MDA5 = _REPO / "registries" / "anti_mda5"  # the synthetic registry's folder
# role -> words that, in a date field's name or label, suggest it plays the role
_ROLE_HINTS = {
    "birth": ("birth", "dob", "naissance"),
    "diagnosis": ("diagnos", "dx_date"),
    "entry": ("enrol", "inclusion", "entry", "consent"),
    "last_follow_up": ("last_fu", "follow", "last_visit", "last_contact"),
    "death": ("death", "deces", "died", "dod"),
    "transplant": ("transplant", "graft"),
}
_SLUG = re.compile(r"[^a-z0-9_-]+")
#: The site of the records in no data access group (`dag = ""`, project-wide token).
_NO_DAG = "no_dag"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def token_file_text(tokens: Tokens) -> str:
    lines = ["# API tokens of a running `registry sandbox` (synthetic data only)."]
    lines += [f"{key}={value}" for key, value in tokens.env().items()]
    return "\n".join(lines) + "\n"


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_-")[:40] or "project"


def settings_text(server: SandboxServer, token_file: str) -> str:
    """A settings.toml for this sandbox: one [[sites]] per DAG (or one for the project),
    stores under its folder."""
    project = server.project
    synthetic = server.folder is None
    lines = [
        "# Written by `registry sandbox --write-settings`: points registry at a running sandbox.",
        "[store]", 'url = "sqlite:///var/registry.sqlite"', "",
        "[reports]", 'dir = "var/reports"', "",
    ]
    if synthetic:
        lines += ["[registry]", f"profile = {_q(str(_ANTI_MDA5 / 'profile.toml'))}", "",
                  "[quality]", f"suites = {_q(str(_ANTI_MDA5 / 'expectations'))}", "",
                  "[[studies]]", f"spec = {_q(str(_ANTI_MDA5 / 'studies' / 'jak_cni.toml'))}",
                  ""]
    else:
        lines += ["# profile.toml (beside this file) is a starting point to complete: REDCap",
                  "# cannot say which fields play which roles.",
                  "[registry]", 'profile = "profile.toml"', "",
                  "[quality]", 'suites = "expectations"', ""]
    sites: list[tuple[str, str, str | None]] = [
        (d["unique_group_name"], d["data_access_group_name"], d["unique_group_name"])
        for d in project.dags]
    if sites and any(not rec.dag for rec in project.records.values()):
        # records in no DAG (created before the DAGs, or never assigned): a site of
        # their own, read with the project-wide token, so that no record goes unchecked
        sites.append((_NO_DAG, "Records in no data access group", ""))
    if not sites:
        title = str(project.project_info.get("project_title", "project"))
        sites = [(_slug(title), title, None)]
    for name, label, dag in sites:
        key = "REGISTRY_TOKEN_" + (dag.upper() if dag else "PROJECT")
        lines += ["[[sites]]", f"name = {_q(name)}", f"label = {_q(label)}",
                  f"url = {_q(server.url)}"]
        lines += [f"dag = {_q(dag)}"] if dag is not None else []
        lines += [f"token_file = {_q(token_file)}", f"token_key = {_q(key)}", ""]
    return "\n".join(lines)


def _date_fields(project: Project) -> list[dict[str, str]]:
    return [m for m in project.schema.metadata
            if m["field_type"] == "text" and m["text_validation_type_or_show_slider_number"]
            .startswith("date")]


def profile_text(project: Project) -> str:
    """A starting registry profile for `project` (see the module docstring)."""
    schema, design = project.schema, project.design
    title = str(project.project_info.get("project_title", "")) or "project"
    repeating = design.repeating_form_names()
    first_event = design.event_names[0]
    patient = next((f for f in schema.forms if f not in repeating
                    and design.designated(f, first_event)), schema.forms[0])
    lines = [
        f"# Starting registry profile for {title}, written by `registry sandbox`.",
        "# REDCap cannot say what follows: check every line, complete the roles your",
        "# suites and studies use, and delete what does not apply. The format is in",
        '# docs/design.md ("The registry\'s shape").', "",
        "[registry]", f"name = {_q(_slug(title))}", f"title = {_q(title)}", "",
        "[patient]                     # the form holding one row of patient-level facts",
        f"form = {_q(patient)}",
    ]
    event = _event_for(project, patient)
    lines += [f"event = {_q(event)}             # the form is on several events of one arm"
              ] if event else []
    lines += ["", "[frames]                      # frame name = form; unlisted forms keep "
                  "their name"]
    lines += [f"# {f} = {_q(f)}" for f in schema.forms]
    lines += ["", "[roles]                       # the fields playing the roles suites and "
                  "studies use"]
    dates = _date_fields(project)
    for role, hints in _ROLE_HINTS.items():
        guess = next((m for m in dates
                      if any(h in (m["field_name"] + " " + m["field_label"]).lower()
                             for h in hints)), None)
        if guess is None:
            lines.append(f'# {role} = ""               # no date field looks like it')
            continue
        name, where = guess["field_name"], _event_for(project, guess["form_name"])
        ref = (f"{{ field = {_q(name)}, event = {_q(where)} }}" if where else _q(name))
        lines.append(f"{role} = {ref}    # guessed from its name: check it")
    return "\n".join(lines) + "\n"


def _event_for(project: Project, form: str) -> str:
    """The first event holding `form` when it is on several events of one arm, else
    `""`: where a profile must say which event it means."""
    design = project.design
    arms = [e.arm for e in design.events if design.designated(form, e.unique_name)]
    if len(arms) == len(set(arms)):
        return ""
    return next(e.unique_name for e in design.events if design.designated(form, e.unique_name))


_DICTIONARY_DEFAULTS = {
    "notes": "Severities of the rules derived from the REDCap data dictionary at run time "
             "(written by `registry sandbox --write-settings`; adjust per field under "
             "\"fields\").",
    "defaults": {"type": "blocking", "range": "blocking", "choices": "blocking",
                 "required": "warning", "hidden": "warning"},
    "fields": {},
}


def write_sandbox_settings(server: SandboxServer, path: Path) -> Path:
    """Write a settings.toml for `server` at `path` and its tokens next to it, in
    `sandbox.tokens` (mode 600); for a folder project also `profile.toml` and
    `expectations/_dictionary.json` (never overwriting either). Return the token
    file's path. Used by the CLI and usable by tests and the demo in-process."""
    token_path = path.parent / "sandbox.tokens"
    write_private(token_path, token_file_text(server.tokens))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(settings_text(server, token_path.name), encoding="utf-8")
    if server.folder is not None:
        profile = path.parent / "profile.toml"
        if not profile.exists():
            profile.write_text(profile_text(server.project), encoding="utf-8")
        severities = path.parent / "expectations" / "_dictionary.json"
        if not severities.exists():
            severities.parent.mkdir(parents=True, exist_ok=True)
            severities.write_text(json.dumps(_DICTIONARY_DEFAULTS, indent=2) + "\n",
                                  encoding="utf-8")
    return token_path
