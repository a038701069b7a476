"""The unused-quota widget: capacity allocated to projects that does not run."""

from datetime import datetime

from invoicing.capacity import UnusedQuotaReport, unused_quota


def unused_quota_report(*, projects, now: datetime) -> UnusedQuotaReport | None:
    """The unused part of the projects' quotas, priced at `now`; None when none of
    them has a quota."""
    report = unused_quota(projects=projects, now=now)
    return report if report.items else None
