"""The provider's people: creating users and deactivating them. Roles are
`accounts.grants`; API keys are `accounts.api_keys`."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.api_key_cache import auth_cache_invalidate
from accounts.grants import role_grant
from accounts.models import FLEET_ROLES
from audit.context import records_actor

USERNAME_TAKEN = "a user {username!r} already exists"
USERNAME_INVALID = "letters, digits and @/./+/-/_ only, at most 150 characters"
ROLE_NOT_FLEET = ("only fleet roles are given here; organization and project roles are "
                  "granted on them")


def _user_errors(*, username: str, password: str | None, roles: list[str]) -> dict:
    errors: dict[str, list[str]] = {}
    users = get_user_model()
    try:
        users._meta.get_field("username").run_validators(username)
        if not username:
            raise ValidationError(USERNAME_INVALID)
    except ValidationError:
        errors["username"] = [USERNAME_INVALID]
    if "username" not in errors and users.objects.filter(username=username).exists():
        errors["username"] = [USERNAME_TAKEN.format(username=username)]
    if password:
        try:
            validate_password(password)
        except ValidationError as weak:
            errors["password"] = list(weak.messages)
    if any(role not in FLEET_ROLES for role in roles):
        errors["roles"] = [ROLE_NOT_FLEET]
    return errors


@records_actor()
def user_create(*, username: str, email: str = "", password: str | None = None,
                first_name: str = "", last_name: str = "", roles: list[str] = (),
                actor, access):
    """A user of the current provider, with fleet roles if any (org and project roles are
    granted on their scope). Without a password the user cannot sign in to pages (an API
    key's user, or one who sets it through the reset flow)."""
    username = (username or "").strip()
    roles = list(dict.fromkeys(roles))
    errors = _user_errors(username=username, password=password, roles=roles)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, email=(email or "").strip(), password=password or None,
            first_name=first_name or "", last_name=last_name or "")
        for role in roles:
            role_grant(user=user, role=role, granted_by=actor, access=access)
    return user


@records_actor()
def user_set_active(*, user, active: bool, actor) -> None:
    """Deactivate (or reactivate) a user: a deactivated user's sessions and keys stop
    working at once (authentication checks `is_active`)."""
    with transaction.atomic():
        auth_cache_invalidate()  # a bulk update: no signal
        get_user_model().objects.filter(pk=user.pk).update(is_active=active)
