"""Pure catalog rules: charge models and price matching. No ORM, settings or clock."""
