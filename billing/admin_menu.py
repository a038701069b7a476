"""The provider admin's menu, grouped by the operator's job rather than by Django app.

One table says where each model goes; the sidebar (django-unfold's navigation) and the
index page (`TallyAdminSite.get_app_list`) are both built from it, so the two never
disagree. A model registered later by some app and missing here still shows, under
"More", so nothing an operator may need disappears silently. Every entry is filtered by
the ModelAdmin's own view permission (the role policy, accounts/policy.py).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class MenuGroup:
    title: str
    icon: str  # a Material Symbols name (django-unfold's icon font)
    models: tuple[str, ...]  # "app_label.ModelName"


MENU: tuple[MenuGroup, ...] = (
    MenuGroup("Catalog", "inventory_2", (
        "catalog.ResourceType", "catalog.UsageMetric", "catalog.Region", "catalog.Service",
        "catalog.Offer", "catalog.Price", "catalog.PriceChange",
    )),
    MenuGroup("Customers", "groups", (
        "accounts.Organization", "accounts.Project", "accounts.BillingAccount",
        "accounts.Entitlement", "invoicing.PaymentProfile",
    )),
    MenuGroup("Billing", "receipt_long", (
        "invoicing.Invoice", "invoicing.CreditNote", "invoicing.Credit",
        "cycles.BillingCycle", "invoicing.RatingRun", "invoicing.InvoiceDelivery",
        "invoicing.PaymentAttempt", "budgets.Budget", "budgets.BudgetAlert",
        "cycles.SandboxClock",
    )),
    MenuGroup("Usage", "monitoring", (
        "metering.Resource", "metering.LifecycleEvent", "metering.UsageEvent",
        "metering.LateEvent", "metering.IngestionDay",
    )),
    MenuGroup("Settings", "settings", (
        "tenancy.Provider", "auth.User", "accounts.RoleGrant", "accounts.ApiKey",
        "notifications.NotificationPreference", "notifications.OutboxMessage",
        "notifications.WebhookDelivery", "invoicing.StripeWebhookEvent", "audit.AuditEvent",
    )),
)
MORE = "More"
# Menu entries named for the operator rather than by the model.
TITLES = {"tenancy.Provider": "Provider settings", "catalog.PriceChange": "Price history"}

# Registered by libraries for their own bookkeeping; a provider's operators never edit
# them (dj-stripe's ~40 models mirror Stripe, which Tally drives through its services;
# Celery's and pghistory's are machinery). Roles replace Django's groups.
HIDDEN_APP_LABELS = frozenset({
    "djstripe", "django_celery_beat", "django_celery_results", "pghistory", "pgtrigger",
})
HIDDEN_MODELS = frozenset({"auth.Group"})


def menu_hidden(model) -> bool:
    return model._meta.app_label in HIDDEN_APP_LABELS or model._meta.label in HIDDEN_MODELS


def _position() -> dict[str, tuple[int, int]]:
    return {label: (g, m) for g, group in enumerate(MENU) for m, label in enumerate(group.models)}


def app_list_grouped(app_list: list[dict]) -> list[dict]:
    """Django's per-app list (`AdminSite.get_app_list`) regrouped by MENU, in its order."""
    position = _position()
    groups = [{"name": g.title, "app_label": g.title.lower(), "app_url": "", "has_module_perms":
               True, "models": []} for g in (*MENU, MenuGroup(MORE, "more_horiz", ()))]
    for app in app_list:
        for model in app["models"]:
            label = f"{app['app_label']}.{model['object_name']}"
            where = position.get(label, (len(MENU), 0))
            model["name"] = TITLES.get(label, model["name"])
            groups[where[0]]["models"].append((where[1], model))
    for group in groups:
        group["models"] = [model for _, model in sorted(group["models"], key=lambda x: x[0])]
    return [group for group in groups if group["models"]]


def navigation_from_app_list(app_list: list[dict], extra: dict[str, list[dict]]) -> list[dict]:
    """django-unfold's sidebar navigation from an app list (already filtered by the
    ModelAdmins' permissions), plus `extra` links per group title (pages that are not a
    model's list, such as the provider's settings)."""
    icons = {group.title: group.icon for group in MENU}
    navigation = []
    for group in app_list:
        items = [{"title": model["name"], "link": model["admin_url"]}
                 for model in group["models"] if model["admin_url"]]
        items += extra.get(group["name"], [])
        navigation.append({"title": group["name"], "icon": icons.get(group["name"]),
                           "collapsible": False, "items": items})
    return navigation
