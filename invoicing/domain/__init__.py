"""Pure invoicing rules: duration rating and SLA credits. No ORM, settings or clock."""
