"""The audit log as one model: every audited table's events, newest first.

`pghistory.models.Events` reads the event tables of every audited model (one
`UNION ALL` query over them, in the current provider's schema) with each event's
context and its difference from the previous event of the same row. This proxy gives
it a name in Tally's admin and its own view permission (`audit.view_auditevent`, which
fleet admins and fleet viewers hold through their roles).
"""

from pghistory.models import Events


class AuditEvent(Events):
    class Meta:
        proxy = True
        verbose_name = "audit event"
        verbose_name_plural = "audit log"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.pgh_obj_model} #{self.pgh_obj_id}: {self.pgh_label}"
