"""Credit notes over the API: issue one against a finalized invoice (fleet admin), list
and read them (whoever may see the invoice), download the PDF."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsFleetAdmin, request_access
from core.api import PlainDecimalField, StandardPagination, file_renderer
from cycles.clock import clock_now
from invoicing.credit_note_delivery import credit_note_pdf_store
from invoicing.credit_notes import LineCredit, credit_note_issue
from invoicing.invoice_apis import _invoice_or_404
from invoicing.models import CreditNote, CreditNoteLine, CreditNoteReason
from invoicing.selectors import credit_note_unallocated, credit_notes_visible
from tenancy.api_fields import MoneyField


class CreditNoteLineSerializer(serializers.ModelSerializer):
    quantity = PlainDecimalField()
    rate = PlainDecimalField()
    amount = MoneyField()
    invoice_line = serializers.IntegerField(source="invoice_line_id", allow_null=True)

    class Meta:
        model = CreditNoteLine
        fields = ["invoice_line", "description", "quantity", "unit", "rate", "amount"]


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id")
    invoice_number = serializers.CharField(source="invoice.number")
    billing_account = serializers.IntegerField(source="billing_account_id")
    total = MoneyField()
    lines = CreditNoteLineSerializer(many=True)
    allocations = serializers.SerializerMethodField()
    account_credit = serializers.SerializerMethodField()
    pdf = serializers.SerializerMethodField()

    class Meta:
        model = CreditNote
        fields = ["id", "number", "invoice", "invoice_number", "billing_account", "currency",
                  "reason", "memo", "total", "issued_at", "lines", "allocations",
                  "account_credit", "pdf"]

    def get_allocations(self, note) -> list[dict]:
        """Where its value went: {invoice, number, amount}."""
        return [{"invoice": a.invoice_id, "number": a.invoice.number,
                 "amount": MoneyField().to_representation(a.amount)}
                for a in note.allocations.all()]

    def get_account_credit(self, note) -> str:
        """What is still account credit, applied to the account's next invoice."""
        return MoneyField().to_representation(credit_note_unallocated(credit_note=note))

    def get_pdf(self, note) -> str:
        return f"/api/v1/credit-notes/{note.pk}/pdf"


class CreditNoteIssueApi(APIView):
    """Issue a credit note against a finalized invoice (fleet admin): no `lines` and no
    `amount` credits all that is left; `lines` credits lines (all of each, or a
    `quantity` of it); `amount` credits an amount."""

    class InputSerializer(serializers.Serializer):
        class LineInput(serializers.Serializer):
            line = serializers.IntegerField()
            quantity = serializers.DecimalField(max_digits=30, decimal_places=10,
                                                required=False)

        reason = serializers.ChoiceField(choices=CreditNoteReason.choices)
        memo = serializers.CharField(max_length=2000, required=False, allow_blank=True,
                                     default="")
        lines = LineInput(many=True, required=False)
        amount = serializers.DecimalField(max_digits=20, decimal_places=3, required=False)

        class Meta:
            ref_name = "CreditNoteIssueInput"

    def get_permissions(self):
        return [IsFleetAdmin()]

    @extend_schema(request=InputSerializer, responses={201: CreditNoteSerializer})
    def post(self, request, invoice_id: int):
        invoice = _invoice_or_404(request, invoice_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        lines = [LineCredit(line_id=item["line"], quantity=item.get("quantity"))
                 for item in given.get("lines", [])] or None
        note = credit_note_issue(invoice_id=invoice.pk, reason=given["reason"],
                                 memo=given["memo"], lines=lines, amount=given.get("amount"),
                                 now=clock_now(), actor=request.user)
        note = credit_notes_visible().get(pk=note.pk)
        return Response(CreditNoteSerializer(note).data, status=status.HTTP_201_CREATED)


def _visible(request):
    access = request_access(request)
    return credit_notes_visible(organization_ids=None if access.sees_fleet else access.org_ids)


class CreditNoteListApi(APIView):
    # Described as a page, as it answers (drf-spectacular reads the pagination class).
    pagination_class = StandardPagination

    @extend_schema(responses=CreditNoteSerializer(many=True))
    def get(self, request):
        """List credit notes.

        Credit notes against finalized invoices, newest first, within your scope."""
        paginator = StandardPagination()
        page = paginator.paginate_queryset(_visible(request), request, view=self)
        return paginator.get_paginated_response(CreditNoteSerializer(page, many=True).data)


class CreditNoteDetailApi(APIView):
    @extend_schema(responses=CreditNoteSerializer)
    def get(self, request, credit_note_id: int):
        """Get a credit note.

        Its number, reason, lines and where its value went."""
        return Response(CreditNoteSerializer(
            get_object_or_404(_visible(request), pk=credit_note_id)).data)


class CreditNotePdfApi(APIView):
    """The credit note's PDF (rendered once, then stored)."""

    renderer_classes = [file_renderer("application/pdf", "pdf")]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, credit_note_id: int):
        note = get_object_or_404(_visible(request), pk=credit_note_id)
        path = credit_note_pdf_store(note=note)
        if not path.is_file():
            raise NotFound("the PDF of this credit note is not rendered yet")
        return FileResponse(path.open("rb"), content_type="application/pdf",
                            as_attachment=True, filename=f"{note.number}.pdf")
