"""An offer's own settings (name, description, public or private), which are not version
content: changing them makes no new version."""

from django.db import transaction

from audit.context import records_actor
from catalog.models import Offer
from catalog.services.keys import NAME_REQUIRED, raise_field_errors


@records_actor()
def offer_settings_update(*, offer: Offer, name: str | None = None,
                          description: str | None = None, public: bool | None = None,
                          actor=None) -> bool:
    """Change what differs; True when something did. A private offer is accepted by a
    fleet admin, or by the organizations it is made for (accounts' private offer
    consumers)."""
    if name is not None and not name.strip():
        raise_field_errors({"name": [NAME_REQUIRED]})
    wanted = {"name": name.strip() if name is not None else None,
              "description": description.strip() if description is not None else None,
              "public": public}
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        changed = [k for k, v in wanted.items() if v is not None and getattr(offer, k) != v]
        for k in changed:
            setattr(offer, k, wanted[k])
        if changed:
            offer.save(update_fields=changed)
    return bool(changed)
