"""Who consumes and who pays, inside one provider's schema."""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.utils import timezone

from audit.tracking import audited
from core.db import TsTzRange


class ApiKeyScope(models.TextChoices):
    """What a key may do, on top of its user's roles (a scope only ever narrows them)."""

    # Usage and lifecycle events only: what a collector or a monitoring agent needs.
    INGEST = "ingest", "Ingest (usage and lifecycle events only)"
    READ = "read", "Read (GET only)"
    ADMIN = "admin", "Admin (everything the user's roles allow)"


# `last_used_at` moves on use; only the changes a person makes are audited.
@audited(exclude=("key_hash",), changes=("name", "scope", "expires_at", "revoked_at"))
class ApiKey(models.Model):
    """A secret another system presents as `Authorization: Bearer <key>`.

    Only a SHA-256 hash of the secret is kept; the key itself is shown once when
    issued. Keys live in the provider's schema, so a key is only ever found on
    that provider's host. A revoked or expired key answers 401.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The public part of the key, used to find its row without scanning hashes.
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=ApiKeyScope.choices,
                             default=ApiKeyScope.ADMIN)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Refused from this instant on; empty: never.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.user}"


NAME_HELP = "Lowercase letters, digits and '-': how the API names it."


CREATED_AT_HELP = "when it began; a history import dates it in the past"


class Organization(models.Model):
    """A consumer of the provider: a team (chargeback) or a customer (offers)."""

    name = models.SlugField(max_length=100, unique=True, help_text=NAME_HELP)
    display_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, help_text=CREATED_AT_HELP)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class PaymentKind(models.TextChoices):
    # Internal chargeback: the invoice is a statement, no payment is collected.
    CHARGEBACK = "chargeback", "Internal chargeback"
    CARD = "card", "Card (Stripe)"


@audited()
class BillingAccount(models.Model):
    """Where bills go. An organization has one or more; exactly one is its default."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="billing_accounts"
    )
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    payment_kind = models.CharField(
        max_length=20, choices=PaymentKind.choices, default=PaymentKind.CHARGEBACK
    )
    created_at = models.DateTimeField(default=timezone.now, help_text=CREATED_AT_HELP)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="billing_account_name_unique_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization"], condition=models.Q(is_default=True),
                name="one_default_billing_account_per_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization.name}: {self.name}"


class BillingContact(models.Model):
    """Who receives the account's invoices by email."""

    billing_account = models.ForeignKey(
        BillingAccount, on_delete=models.CASCADE, related_name="contacts"
    )
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["billing_account", "email"], name="billing_contact_unique_per_account"
            ),
        ]

    def __str__(self) -> str:
        return self.email


class Project(models.Model):
    """Where usage happens. Bills to its organization's accounts, effective-dated."""

    name = models.SlugField(max_length=100, unique=True, help_text=NAME_HELP)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@audited()
class ProjectAccountAssignment(models.Model):
    """Which billing account a project bills to over `[valid_from, valid_to)`.

    Moving a project closes the current row and opens a new one at the move's
    instant, so usage splits exactly there. PostgreSQL keeps rows of one project
    from overlapping.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    billing_account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="assignments"
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gt=models.F("valid_from")),
                name="assignment_valid_from_before_valid_to",
            ),
            ExclusionConstraint(
                name="assignment_no_overlap_per_project",
                expressions=[
                    ("project", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to", models.Value("[)")),
                     RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} -> {self.billing_account} from {self.valid_from:%Y-%m-%d %H:%M} UTC"


class Role(models.TextChoices):
    FLEET_ADMIN = "fleet_admin", "Fleet billing admin"
    FLEET_VIEWER = "fleet_viewer", "Fleet billing viewer"
    ORG_ADMIN = "org_admin", "Organization admin"
    ORG_BILLING_VIEWER = "org_billing_viewer", "Organization billing viewer"
    PROJECT_BILLING_VIEWER = "project_billing_viewer", "Project billing viewer"


FLEET_ROLES = (Role.FLEET_ADMIN, Role.FLEET_VIEWER)
ORG_ROLES = (Role.ORG_ADMIN, Role.ORG_BILLING_VIEWER)


@audited()
class RoleGrant(models.Model):
    """A user holds a role, fleet-wide or on one organization or project."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=30, choices=Role.choices)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="grants"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="grants"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username", "role"]
        constraints = [
            # Each role carries exactly the scope it needs.
            models.CheckConstraint(
                name="role_grant_scope_fits_role",
                condition=(
                    models.Q(role__in=FLEET_ROLES, organization__isnull=True,
                             project__isnull=True)
                    | models.Q(role__in=ORG_ROLES, organization__isnull=False,
                               project__isnull=True)
                    | models.Q(role=Role.PROJECT_BILLING_VIEWER, organization__isnull=True,
                               project__isnull=False)
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "organization", "project"],
                name="role_grant_unique", nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        scope = self.project or self.organization or "fleet"
        return f"{self.user} is {self.get_role_display()} on {scope}"


@audited()
class Entitlement(models.Model):
    """A billing account accepted an offer version: active over `[start, end)`.

    Usage of the account's projects is priced by the entitlements active at the
    usage instant. Ending one takes effect at once (`end` = that instant).
    """

    billing_account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="entitlements"
    )
    offer_version = models.ForeignKey(
        "catalog.OfferVersion", on_delete=models.PROTECT, related_name="entitlements"
    )
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty: active.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["billing_account_id", "start", "id"]
        indexes = [models.Index(fields=["billing_account", "start"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__isnull=True) | models.Q(end__gt=models.F("start")),
                name="entitlement_start_before_end",
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.billing_account} on {self.offer_version} "
                f"from {self.start:%Y-%m-%d %H:%M} UTC")


class FeatureGrant(models.Model):
    """What a billing account may use now: one row per (account, feature), kept in step
    with its entitlements when one is accepted or ended, so a check reads one row."""

    billing_account = models.ForeignKey(
        BillingAccount, on_delete=models.CASCADE, related_name="feature_grants"
    )
    feature = models.ForeignKey("catalog.Feature", on_delete=models.CASCADE, related_name="+")
    entitlement = models.ForeignKey(
        Entitlement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled = models.BooleanField(default=False)
    limit = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True,
                                help_text="Quotas; empty: unlimited.")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["billing_account_id", "feature_id"]
        constraints = [
            models.UniqueConstraint(fields=["billing_account", "feature"],
                                    name="feature_grant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.billing_account}: {self.feature} {'on' if self.enabled else 'off'}"


class QuotaCounter(models.Model):
    """How much of a quota is reserved, per billing account or per project.

    Reservations are one conditional UPDATE (`used + n <= limit`), so concurrent
    requests serialize on this row and never exceed the limit.
    """

    billing_account = models.ForeignKey(
        BillingAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    feature = models.ForeignKey("catalog.Feature", on_delete=models.CASCADE, related_name="+")
    used = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="quota_counter_one_scope",
                condition=models.Q(billing_account__isnull=False, project__isnull=True)
                | models.Q(billing_account__isnull=True, project__isnull=False),
            ),
            models.CheckConstraint(name="quota_counter_not_negative",
                                   condition=models.Q(used__gte=0)),
            models.UniqueConstraint(fields=["billing_account", "feature"],
                                    condition=models.Q(project__isnull=True),
                                    name="quota_counter_unique_per_account"),
            models.UniqueConstraint(fields=["project", "feature"],
                                    condition=models.Q(billing_account__isnull=True),
                                    name="quota_counter_unique_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.project or self.billing_account}: {self.feature} {self.used}"


class ProjectQuota(models.Model):
    """Capacity allocated to a project: how many resources of a type, variant, region
    and class it may run (e.g. 16 instances of 4cpu-16gb = 64 vCPUs in mars).

    What is allocated but not running still costs the provider: Tally shows that
    unused part at current prices, to dispel the notion that idle capacity is free.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quotas")
    metric = models.ForeignKey("catalog.Metric", on_delete=models.PROTECT, related_name="+")
    variant = models.CharField(max_length=100)
    region = models.CharField(max_length=100)
    service_class = models.CharField(max_length=20, default="standard")
    allocated = models.PositiveIntegerField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["project__name", "metric__key", "variant", "region", "service_class"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "metric", "variant", "region", "service_class"],
                name="project_quota_unique_per_key",
            ),
        ]

    def __str__(self) -> str:
        what = f"{self.metric.key}/{self.variant}"
        return f"{self.project}: {self.allocated} x {what} in {self.region}"


@audited()
class PrivateOfferConsumer(models.Model):
    """An organization a private offer is made for: its admins may accept it themselves
    (anyone else needs a fleet admin). The offer lives in catalog, which knows nothing of
    organizations; so the list of who it is for lives here."""

    offer = models.ForeignKey("catalog.Offer", on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="private_offers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offer_id", "organization__name"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "organization"],
                                    name="private_offer_consumer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.offer} for {self.organization}"
