from django.contrib.admin.apps import AdminConfig


class TallyAdminConfig(AdminConfig):
    """Django's admin, with the provider's admin site whose door is the role policy."""

    default_site = "billing.admin_site.TallyAdminSite"
