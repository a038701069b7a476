"""The provider's uploaded logo on its invoice PDFs, and only its own branding folder."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image
from pypdf import PdfReader

from invoicing.delivery import invoice_pdf_render
from invoicing.models import InvoiceDelivery
from invoicing.pdf import (
    LOGO,
    RefusedUrl,
    invoice_logo_url,
    invoice_url_fetcher,
    url_is_provider_branding,
)
from tests.conftest import inside
from tests.invoicing.delivery.conftest import later, make_account, make_finalized_invoice

LOGO_SIZE = (96, 32)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def png_logo() -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", LOGO_SIZE, (200, 30, 60)).save(buffer, format="PNG")
    return ContentFile(buffer.getvalue())


def page_image_sizes(path: Path) -> list[tuple[int, int]]:
    """The size of each raster image drawn on the first page (its /XObject images)."""
    page = PdfReader(str(path)).pages[0]
    return [image.image.size for image in page.images]


def test_a_provider_with_an_uploaded_logo_gets_it_on_its_invoice_pdf(alpha):
    with inside(alpha):
        alpha.logo.save("brand.png", png_logo())
        assert alpha.logo.name == "alpha/branding/logo.png"
        invoice = make_finalized_invoice(make_account("mars-corp"))
        assert invoice_pdf_render(invoice_id=invoice.pk, now=later(1)) is True
        path = Path(settings.MEDIA_ROOT) / InvoiceDelivery.objects.get(invoice=invoice).pdf_path
    assert LOGO_SIZE in page_image_sizes(path)


def test_without_a_logo_the_pdf_shows_tallys_bundled_one(alpha):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp"))
        invoice_pdf_render(invoice_id=invoice.pk, now=later(1))
        path = Path(settings.MEDIA_ROOT) / InvoiceDelivery.objects.get(invoice=invoice).pdf_path
        assert invoice_logo_url("") == LOGO.resolve().as_uri()
    assert LOGO_SIZE not in page_image_sizes(path)


def test_a_logo_outside_the_providers_own_branding_folder_is_refused(alpha, beta):
    media = Path(settings.MEDIA_ROOT)
    for provider in (alpha, beta):
        with inside(provider):
            provider.logo.save("brand.png", png_logo())
    secret = media / "alpha" / "invoices" / "secret.png"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"not a logo")
    own = (media / "alpha" / "branding" / "logo.png").resolve().as_uri()
    betas = (media / "beta" / "branding" / "logo.png").resolve().as_uri()
    escape = (media / "alpha" / "branding").resolve().as_uri() + "/../invoices/secret.png"
    with inside(alpha):
        assert url_is_provider_branding(own, "alpha")
        for url in (betas, escape, secret.as_uri(), "file:///etc/passwd"):
            assert not url_is_provider_branding(url, "alpha"), url
            # The template never gets another path: the bundled logo instead.
            assert invoice_logo_url(url) == LOGO.resolve().as_uri(), url
        fetcher = invoice_url_fetcher()
        assert fetcher.fetch(own)
        for url in (betas, escape, secret.as_uri()):
            with pytest.raises(RefusedUrl):
                fetcher.fetch(url)
        assert fetcher.refused == [betas, escape, secret.as_uri()]
    # The public schema has no branding folder an invoice may read.
    assert not url_is_provider_branding(own, "public")
