"""An invoice as a document over the API: the rows, columns and totals its PDF prints,
as JSON or CSV (invoicing/presenter.py), for whoever may see the invoice."""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import file_renderer
from invoicing.invoice_apis import _invoice_or_404
from invoicing.presenter import invoice_document
from invoicing.spend_apis import csv_safe


def document_csv(document) -> str:
    """The document's rows as CSV: the PDF's headings and strings, cell for cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in document.csv_rows():
        writer.writerow([csv_safe(cell) for cell in row])
    return out.getvalue()


class InvoiceDocumentApi(APIView):
    """The invoice's document as JSON: headings, rows (the PDF's strings, in its order)
    and totals."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, invoice_id: int):
        invoice = _invoice_or_404(request, invoice_id)
        return Response(invoice_document(invoice=invoice).as_json())


class InvoiceDocumentCsvApi(APIView):
    """The invoice's document as CSV: the PDF's columns, rows and totals."""

    renderer_classes = [file_renderer("text/csv", "csv")]

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request, invoice_id: int):
        invoice = _invoice_or_404(request, invoice_id)
        document = invoice_document(invoice=invoice)
        response = HttpResponse(document_csv(document), content_type="text/csv; charset=utf-8")
        name = invoice.number or f"draft-{invoice.pk}"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
