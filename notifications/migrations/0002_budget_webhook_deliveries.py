"""Budget webhook deliveries become generic webhook deliveries, keyed as budgets key them
now (`budget:<id>:<cycle>:<threshold>`), with the budget's secret copied onto each."""

from django.db import migrations

COPY = """
INSERT INTO notifications_webhookdelivery
    (key, event, subject, details, message_id, url, secret, body, status, attempts,
     last_status_code, last_error, next_attempt_at, claimed_at, delivered_at, created_at)
SELECT 'budget:' || d.budget_id || ':' || c.label || ':' || d.threshold,
       'budget.threshold_crossed',
       'budget:' || d.budget_id,
       jsonb_build_object('period', c.label, 'threshold', d.threshold),
       'budget:' || d.budget_id || ':' || c.label || ':' || d.threshold,
       d.url, b.webhook_secret, d.body, d.status, d.attempts,
       d.last_status_code, d.last_error, d.next_attempt_at, d.claimed_at, d.delivered_at,
       d.created_at
FROM budgets_budgetwebhookdelivery d
JOIN budgets_budget b ON b.id = d.budget_id
JOIN cycles_billingcycle c ON c.id = d.cycle_id
ON CONFLICT (key) DO NOTHING
"""


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0001_initial"),
        ("cycles", "0002_rename_table"),
        ("budgets", "0002_billingcycle_moved_to_cycles"),
    ]

    operations = [
        migrations.RunSQL(COPY, reverse_sql=migrations.RunSQL.noop),
    ]
