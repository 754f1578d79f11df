"""Who the sandbox project's users are: the API users and the folder's or invented ones.

Kept apart from the API handlers (`registry.sandbox.users`) so that reading a project
folder's users.csv can check its role labels without importing the request layer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ROLES", "sandbox_users"]

#: unique_role_name -> role_label (REDCap makes the unique names; these look like its own)
ROLES = {"U-527D39JXAC": "Data manager", "U-8Q2LK3Z7NE": "Site coordinator",
         "U-3RM6WV4T9P": "Data entry"}


def sandbox_users(project: Any) -> list[dict[str, Any]]:
    """The project's users: username, email, names, expiration, DAG, role label.

    The API users first (the data manager, each DAG's coordinator), then the project
    folder's users (`project.folder_users`) or, without them, invented ones.
    """
    users = [{"username": "sandbox_admin", "email": "datamanager@sandbox.example.org",
              "firstname": "Dana", "lastname": "Manager", "expiration": "", "dag": "",
              "role": "Data manager"}]
    users += [{"username": f"sandbox_{dag}", "email": f"coordinator.{dag}@sandbox.example.org",
               "firstname": "Site", "lastname": f"Coordinator {dag}", "expiration": "",
               "dag": dag, "role": "Site coordinator"} for dag in project.dag_ids]
    folder_users = getattr(project, "folder_users", None)
    if folder_users is not None:
        return users + [dict(u) for u in folder_users]
    for dag in project.dag_ids:
        users += [
            {"username": f"entry_{dag}", "email": f"entry.{dag}@sandbox.example.org",
             "firstname": "Data", "lastname": f"Entry {dag}", "expiration": "", "dag": dag,
             "role": "Data entry"},
            {"username": f"former_{dag}", "email": f"former.{dag}@sandbox.example.org",
             "firstname": "Former", "lastname": f"Coordinator {dag}",
             "expiration": "2024-12-31", "dag": dag, "role": "Site coordinator"},
        ]
    return users
