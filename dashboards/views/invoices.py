"""One invoice's page (its lines, paginated or as CSV) and its PDF download."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from accounts.permissions import request_access
from dashboards import exports
from dashboards.selectors.invoices import (
    invoice_pdf_path,
    invoice_pdf_ready,
    invoice_visible,
)
from dashboards.selectors.paging import paginate
from dashboards.views.page import page_now, render_page
from invoicing.payments.selectors import invoice_payment_state
from invoicing.presenter import invoice_document

NO_PDF = "The PDF of this invoice is not available yet."


@login_required
@require_GET
def invoice(request, invoice_id: int):
    access = request_access(request)
    inv = invoice_visible(access=access, invoice_id=invoice_id)
    # One document model for the page, its CSV and the PDF (invoicing/presenter.py).
    document = invoice_document(invoice=inv)
    if exports.wants_csv(request):
        return exports.csv_response(name=f"invoice-{inv.number or inv.pk}",
                                    header=document.headings,
                                    rows=document.csv_rows()[1:])
    page = paginate(document.rows, page=request.GET.get("page"), per_page=50)
    inv.pdf_ready = invoice_pdf_ready(inv)
    delivery = getattr(inv, "delivery", None)
    payment = (invoice_payment_state(invoice_id=inv.pk, delivery=delivery)
               if delivery is not None and inv.billing_account.payment_kind == "card" else None)
    can_pay = bool(payment and payment.payable_now
                   and access.can_manage_org(inv.billing_account.organization_id))
    return render_page(request, "dashboards/invoice.html", {
        "invoice": inv, "page": page, "doc": document, "payment": payment,
        "can_pay": can_pay, "stripe_js_url": settings.STRIPE_JS_URL,
        "credit_notes": list(inv.credit_notes.order_by("sequence"))})


@login_required
@require_GET
def invoice_pdf(request, invoice_id: int):
    """The invoice's PDF, the same stored file the API serves."""
    access = request_access(request)
    inv = invoice_visible(access=access, invoice_id=invoice_id)
    path = invoice_pdf_path(invoice=inv, now=page_now())
    if path is None:
        raise Http404(NO_PDF)
    return FileResponse(path.open("rb"), content_type="application/pdf", as_attachment=True,
                        filename=f"{inv.number}.pdf")
