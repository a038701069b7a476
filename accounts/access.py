"""Who may see and do what: the roles of PRODUCT.md, resolved once per request.

- fleet admin: edits prices, sees and manages everything
- fleet viewer: sees everything
- org admin: manages the organization's billing accounts and projects, sees its spend
- org billing viewer: sees the organization's spend
- project billing viewer: sees the project's spend (a project's creator holds it)

Access outside one's scope answers 404, never another's data: views narrow their
querysets with `visible_*` and then look the object up in that narrowed set.
"""

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from accounts.models import Organization, Project, Role, RoleGrant


@dataclass(frozen=True)
class Access:
    user_id: int | None
    fleet_admin: bool = False
    fleet_viewer: bool = False
    admin_org_ids: frozenset[int] = field(default_factory=frozenset)
    viewer_org_ids: frozenset[int] = field(default_factory=frozenset)
    viewer_project_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def sees_fleet(self) -> bool:
        return self.fleet_admin or self.fleet_viewer

    @property
    def org_ids(self) -> frozenset[int]:
        """Organizations whose whole spend this user may see."""
        return self.admin_org_ids | self.viewer_org_ids

    def can_edit_prices(self) -> bool:
        return self.fleet_admin

    def can_manage_org(self, organization_id: int) -> bool:
        return self.fleet_admin or organization_id in self.admin_org_ids

    def can_view_org(self, organization_id: int) -> bool:
        return self.sees_fleet or organization_id in self.org_ids

    def can_view_project(self, project: Project) -> bool:
        return (
            self.sees_fleet
            or project.organization_id in self.org_ids
            or project.pk in self.viewer_project_ids
        )


NO_ACCESS = Access(user_id=None)


def access_for(user) -> Access:
    """One query: the user's grants, folded into sets of ids."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    grants = RoleGrant.objects.filter(user_id=user.pk).values_list(
        "role", "organization_id", "project_id"
    )
    return access_from_grants(user, grants)


def access_from_grants(user, grants) -> Access:
    """Fold (role, organization_id, project_id) rows into an Access, for a caller that
    read the grants already (API-key authentication reads them with the key)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    roles: dict[str, set[int]] = {role: set() for role in Role.values}
    for role, organization_id, project_id in grants:
        roles[role].add(organization_id or project_id or 0)
    return Access(
        user_id=user.pk,
        fleet_admin=bool(roles[Role.FLEET_ADMIN]),
        fleet_viewer=bool(roles[Role.FLEET_VIEWER]),
        admin_org_ids=frozenset(roles[Role.ORG_ADMIN]),
        viewer_org_ids=frozenset(roles[Role.ORG_BILLING_VIEWER]),
        viewer_project_ids=frozenset(roles[Role.PROJECT_BILLING_VIEWER]),
    )


def visible_organizations(access: Access) -> QuerySet[Organization]:
    """Organizations the user may see: all of them for fleet roles, else those
    whose spend they may see or that hold a project they may see."""
    if access.sees_fleet:
        return Organization.objects.all()
    return Organization.objects.filter(
        Q(pk__in=access.org_ids) | Q(projects__pk__in=access.viewer_project_ids)
    ).distinct()


def visible_projects(access: Access) -> QuerySet[Project]:
    if access.sees_fleet:
        return Project.objects.all()
    return Project.objects.filter(
        Q(organization_id__in=access.org_ids) | Q(pk__in=access.viewer_project_ids)
    )
