"""The demo's people who create resources, so spend per user shows real rows.

Each is a user of the organization (a billing role on it or one of its projects), with
no password: they exist to be named as creators (`created_by` on lifecycle events), as
another system would name the people who started the resources.
"""

from django.contrib.auth import get_user_model

from accounts.access import access_for
from accounts.grants import role_grant
from accounts.models import Organization, Project, Role

# (username, full name, role, project name or None for the organization)
CHARGEBACK_PEOPLE = {
    "mars-corp": [("ada", "Ada Lovelace", Role.PROJECT_BILLING_VIEWER, "adventure"),
                  ("grace", "Grace Hopper", Role.PROJECT_BILLING_VIEWER, "telescope"),
                  ("katherine", "Katherine Johnson", Role.ORG_BILLING_VIEWER, None)],
    "venus-labs": [("hedy", "Hedy Lamarr", Role.PROJECT_BILLING_VIEWER, "greenhouse")],
}


def demo_person(*, username: str, full_name: str, role: str, organization: Organization,
                project: Project | None, operator) -> str:
    """The user (created once) with their role; their username."""
    first, _, last = full_name.partition(" ")
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first, "last_name": last,
                                     "email": f"{username}@{organization.name}.example"})
    if project is not None:
        role_grant(user=user, role=role, project=project, granted_by=operator,
                   access=access_for(operator))
    else:
        role_grant(user=user, role=role, organization=organization, granted_by=operator,
                   access=access_for(operator))
    return user.username


def chargeback_people_create(*, projects: dict[str, Project], operator) -> None:
    for org_name, people in CHARGEBACK_PEOPLE.items():
        organization = Organization.objects.get(name=org_name)
        for username, full_name, role, project in people:
            demo_person(username=username, full_name=full_name, role=role,
                        organization=organization,
                        project=projects[project] if project else None, operator=operator)


def datum_creator(*, name: str, project: Project, index: int, operator,
                   consumer) -> str | None:
    """Who created a consumer's instance: the consumer login for "startup" (its admin),
    else, for every other instance, a developer of the project."""
    if name == "startup" and consumer is not None:
        return consumer.username
    if index % 2:
        return None  # some instances name nobody: "not attributed to a user"
    return demo_person(username=f"{name}-dev", full_name=f"{name.title()} Developer",
                       role=Role.PROJECT_BILLING_VIEWER, organization=project.organization,
                       project=project, operator=operator)
