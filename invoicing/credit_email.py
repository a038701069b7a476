"""The "credit added" email: when an operator adds a credit (an SLA credit, PRODUCT.md
"Credits") to an organization, a project or one resource, the people of its scope who
kept `credit_email` on hear once: what the credit is for, the window it gives back, and
that it shows on the upcoming invoice after the next rating (the amount is computed by
rating, from the window and the scope; it is not known when the credit is added).

Queued through the notifications outbox inside the credit's transaction, so it leaves
only after the credit is committed; keyed by credit and address, so it is sent once.
Recipients: the organization's admins and billing viewers (an organization row of the
preferences), and for a credit on a project or one of its resources that project's
billing viewers too (a project row); each message's one-click unsubscribe turns
`credit_email` off for the scope it was sent for.
"""

from django.template.loader import render_to_string

from core.timefmt import period_text
from invoicing.models import Credit
from notifications.outbox import outbox_enqueue
from notifications.selectors import credit_email_recipients
from notifications.unsubscribe import KIND_CREDIT
from tenancy.selectors import provider_current


def credit_added_key(*, credit_id: int, email: str) -> str:
    return f"credit-added:{credit_id}:{email.lower()}"


def _link(path: str) -> str:
    domain = provider_current().get_primary_domain()
    host = domain.domain if domain else "localhost"
    scheme = "http" if host == "localhost" or host.endswith(".localhost") else "https"
    return f"{scheme}://{host}{path}"


def _context(credit: Credit, organization, project) -> dict:
    provider = provider_current()
    narrowed = ", ".join(part for part in (
        f"region {credit.region}" if credit.region else "",
        f"resource type {credit.metric_key}" if credit.metric_key else "") if part)
    if credit.resource_id is not None:
        scope = f"resource {credit.resource.resource_id} of project {project.name}"
    elif project is not None:
        scope = f"project {project.name}"
    else:
        scope = f"organization {organization.display_name or organization.name}"
    return {
        "credit": credit, "scope": scope, "narrowed": narrowed,
        "window": period_text(credit.window_start, credit.window_end,
                              provider.billing_timezone),
        "provider_name": provider.name,
        "link": _link(f"/projects/{project.name}/" if project is not None
                      else f"/orgs/{organization.name}/"),
    }


def credit_added_email_queue(*, credit: Credit) -> int:
    """Queue the email of a credit just added; how many were queued. Call it in the
    transaction that created the credit."""
    project = credit.project or (credit.resource.project if credit.resource_id else None)
    organization = credit.organization or project.organization
    context = _context(credit, organization, project)
    subject = f"Credit added to {context['scope']}: {credit.name}"
    text = render_to_string("emails/credit_added.txt", context)
    html = render_to_string("emails/credit_added.html", context)
    org_emails = credit_email_recipients(organization_id=organization.pk)
    sends = [(email, {"kind": KIND_CREDIT, "organization": organization.pk})
             for email in org_emails]
    if project is not None:
        sends += [(email, {"kind": KIND_CREDIT, "project": project.pk})
                  for email in credit_email_recipients(project_id=project.pk)
                  if email not in org_emails]
    for email, unsubscribe in sends:
        outbox_enqueue(key=credit_added_key(credit_id=credit.pk, email=email), to=email,
                       subject=subject[:300], text=text, html=html, unsubscribe=unsubscribe)
    return len(sends)
