"""The sandbox project's REDCap users: who they are, their e-mail, role and DAG.

A REDCap project lists its users (`content=user`: username, e-mail, DAG, expiration,
rights), its user roles (`content=userRole`: `unique_role_name`, `role_label`, rights)
and who holds which role (`content=userRoleMapping`), and who is in which DAG
(`content=userDagMapping`). The sandbox has, per DAG, a site coordinator
(`sandbox_<dag>`, the DAG's API user), a data-entry user and a coordinator whose
rights expired, plus the project's data manager (`sandbox_admin`, in no DAG); a
folder's users.csv stands in for the invented ones (`registry.sandbox.roster`). These
four contents need User Rights privileges: a DAG member's token is refused (403).
"""

from __future__ import annotations

from typing import Any

from registry.sandbox.formats import Reply, data_reply
from registry.sandbox.request import Call, Refusal
from registry.sandbox.roster import ROLES, sandbox_users

__all__ = ["USER_HANDLERS", "USER_RIGHTS_FORBIDDEN", "user_dag_rows"]

USER_RIGHTS_FORBIDDEN = "You do not have permissions to use the API User Rights methods"
_ROLE_OF = {label: name for name, label in ROLES.items()}
_USER_HEADER = ["username", "email", "firstname", "lastname", "expiration",
                "data_access_group", "data_access_group_id", "user_rights", "api_export"]


def _refuse_dag_members(call: Call) -> None:
    if call.scope.dag is not None:
        raise Refusal(403, USER_RIGHTS_FORBIDDEN)


def _users(call: Call) -> Reply:
    _refuse_dag_members(call)
    ids = call.project.dag_ids
    rows = [{"username": u["username"], "email": u["email"], "firstname": u["firstname"],
             "lastname": u["lastname"], "expiration": u["expiration"],
             "data_access_group": u["dag"],
             "data_access_group_id": str(ids[u["dag"]]) if u["dag"] else "",
             "user_rights": 1 if u["role"] == "Data manager" else 0, "api_export": 1}
            for u in sandbox_users(call.project)]
    return data_reply(rows, call.fmt, header=_USER_HEADER)


def _roles(call: Call) -> Reply:
    _refuse_dag_members(call)
    rows = [{"unique_role_name": name, "role_label": label,
             "user_rights": 1 if label == "Data manager" else 0}
            for name, label in ROLES.items()]
    return data_reply(rows, call.fmt, header=["unique_role_name", "role_label", "user_rights"])


def _role_mapping(call: Call) -> Reply:
    _refuse_dag_members(call)
    rows = [{"username": u["username"], "unique_role_name": _ROLE_OF[u["role"]],
             "data_access_group": u["dag"]} for u in sandbox_users(call.project)]
    return data_reply(rows, call.fmt,
                      header=["username", "unique_role_name", "data_access_group"])


def user_dag_rows(project: Any) -> list[dict[str, str]]:
    """`content=userDagMapping`: every user and its DAG ("" for none)."""
    return [{"username": u["username"], "redcap_data_access_group": u["dag"]}
            for u in sandbox_users(project)]


USER_HANDLERS = {"user": _users, "userRole": _roles, "userRoleMapping": _role_mapping}
