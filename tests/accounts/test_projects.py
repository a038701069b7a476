"""Projects bill to an account of their organization, effective-dated; moves split exactly."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ProjectAccountAssignment, Role, RoleGrant
from accounts.organizations import (
    billing_account_create,
    billing_account_set_default,
    organization_create,
)
from accounts.projects import (
    ACCOUNT_OTHER_ORG,
    MOVE_BEFORE_CURRENT,
    MOVE_SAME_ACCOUNT,
    NO_BILLING_ACCOUNT,
    PROJECT_NAME_TAKEN,
    project_create,
    project_move,
)
from accounts.selectors import AssignmentSpan, assignments_for_period, project_billing_account_at
from core.periods import Period
from cycles.guard import CYCLE_FINALIZED
from cycles.models import BillingCycle, CycleStatus
from tests.accounts.support import make_user
from tests.conftest import inside
from tests.factories import make_cycle

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)  # beta bills in UTC months
DEC = datetime(2026, 12, 1, tzinfo=UTC)


def _org(name="mars"):
    org = organization_create(name=name, display_name=name.title(), actor=None, now=NOW)
    research = billing_account_create(organization=org, name="Research",
                                      payment_kind="chargeback", contacts=[], actor=None,
                                      now=NOW)
    return org, org.billing_accounts.get(name="Main"), research


def _rows(project):
    return list(project.assignments.order_by("valid_from").values_list(
        "billing_account__name", "valid_from", "valid_to"))


def test_a_new_project_bills_to_the_default_from_the_start_of_the_cycle(beta):
    with inside(beta):
        dev = make_user("dev")
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=dev, now=NOW)
        assert _rows(project) == [("Main", NOV, None)]
        assert project.created_by == dev
        assert project.assignments.get().created_by == dev


def test_the_cycle_start_follows_the_providers_zone(alpha):
    with inside(alpha):  # Pacific/Auckland: November starts 2026-10-31 11:00 UTC
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        assert _rows(project) == [("Main", datetime(2026, 10, 31, 11, 0, tzinfo=UTC), None)]


def test_a_new_project_follows_the_current_default(beta):
    with inside(beta):
        org, main, research = _org()
        billing_account_set_default(billing_account=research)
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        assert _rows(project) == [("Research", NOV, None)]


def test_a_project_can_bill_to_another_account_of_its_org(beta):
    with inside(beta):
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None, now=NOW,
                                 billing_account=research)
        assert _rows(project) == [("Research", NOV, None)]


def test_a_project_refuses_another_orgs_account_and_an_org_without_accounts(beta):
    with inside(beta):
        org, main, research = _org()
        other, other_main, _ = _org("venus")
        with pytest.raises(ValidationError) as refused:
            project_create(name="adventure", organization=org, actor=None, now=NOW,
                           billing_account=other_main)
        assert refused.value.message_dict == {"billing_account": [
            ACCOUNT_OTHER_ORG.format(account="Main", org="mars")]}
        bare = organization_create(name="bare", display_name="Bare", actor=None, now=NOW,
                                   billing_account_name=None)
        with pytest.raises(ValidationError) as refused:
            project_create(name="adventure", organization=bare, actor=None, now=NOW)
        assert refused.value.message_dict == {"organization": [
            NO_BILLING_ACCOUNT.format(name="bare")]}
        assert "create a billing account first" in NO_BILLING_ACCOUNT
        assert not ProjectAccountAssignment.objects.exists()


def test_project_names_are_unique(beta):
    with inside(beta):
        org, main, research = _org()
        project_create(name="adventure", organization=org, actor=None, now=NOW)
        with pytest.raises(ValidationError) as refused:
            project_create(name="adventure", organization=org, actor=None, now=NOW)
        assert refused.value.message_dict == {"name": [
            PROJECT_NAME_TAKEN.format(name="adventure")]}


def test_the_creator_holds_project_billing_viewer(beta):
    with inside(beta):
        dev = make_user("dev")
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=dev, now=NOW)
        assert list(RoleGrant.objects.filter(user=dev).values_list("role", "project_id")) == [
            (Role.PROJECT_BILLING_VIEWER, project.pk)]


def test_a_move_mid_cycle_splits_exactly_at_the_instant(beta):
    with inside(beta):
        admin = make_user("admin")
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        at = datetime(2026, 11, 15, 23, 0, 0, 123456, tzinfo=UTC)
        row = project_move(project=project, billing_account=research, effective_from=at,
                           actor=admin, now=NOW)
        assert _rows(project) == [("Main", NOV, at), ("Research", at, None)]
        assert row.created_by == admin and row.valid_from == at
        assert project_billing_account_at(project=project, t=at) == research
        assert project_billing_account_at(
            project=project, t=datetime(2026, 11, 15, 23, 0, 0, 123455, tzinfo=UTC)) == main
        assert project_billing_account_at(
            project=project, t=datetime(2026, 10, 31, tzinfo=UTC)) is None


def test_a_move_without_an_instant_takes_effect_now(beta):
    with inside(beta):
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        project_move(project=project, billing_account=research, effective_from=None,
                     actor=None, now=NOW)
        assert _rows(project) == [("Main", NOV, NOW), ("Research", NOW, None)]


def test_a_move_to_the_same_account_is_refused(beta):
    with inside(beta):
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        with pytest.raises(ValidationError) as refused:
            project_move(project=project, billing_account=main, effective_from=None,
                         actor=None, now=NOW)
        assert refused.value.message_dict == {"billing_account": [
            MOVE_SAME_ACCOUNT.format(account="Main")]}
        assert _rows(project) == [("Main", NOV, None)]


def test_a_move_to_another_orgs_account_is_refused(beta):
    with inside(beta):
        org, main, research = _org()
        other, other_main, _ = _org("venus")
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        with pytest.raises(ValidationError) as refused:
            project_move(project=project, billing_account=other_main, effective_from=None,
                         actor=None, now=NOW)
        assert refused.value.message_dict == {"billing_account": [
            ACCOUNT_OTHER_ORG.format(account="Main", org="mars")]}
        assert _rows(project) == [("Main", NOV, None)]


def test_a_move_into_a_finalized_cycle_is_refused(beta):
    with inside(beta):
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None,
                                 now=datetime(2026, 10, 5, tzinfo=UTC))
        make_cycle(datetime(2026, 10, 1, tzinfo=UTC), NOV, "2026-10", CycleStatus.CLOSED)
        at = datetime(2026, 10, 20, tzinfo=UTC)
        with pytest.raises(ValidationError) as refused:
            project_move(project=project, billing_account=research, effective_from=at,
                         actor=None, now=NOW)
        assert refused.value.message_dict == {"effective_from": [
            CYCLE_FINALIZED.format(when=at.isoformat(), label="2026-10")]}
        before = datetime(2026, 9, 1, tzinfo=UTC)  # no stored cycle: the boundary is named
        with pytest.raises(ValidationError) as refused:
            project_move(project=project, billing_account=research, effective_from=before,
                         actor=None, now=NOW)
        assert refused.value.message_dict == {"effective_from": [CYCLE_FINALIZED.format(
            when=before.isoformat(), label="2026-09")]}
        # Exactly at the boundary is allowed: the finalized cycle ends there.
        project_move(project=project, billing_account=research, effective_from=NOV,
                     actor=None, now=NOW)
        assert _rows(project) == [("Main", datetime(2026, 10, 1, tzinfo=UTC), NOV),
                                  ("Research", NOV, None)]


def test_a_new_project_never_reaches_into_a_finalized_cycle(beta):
    with inside(beta):
        org, main, research = _org()
        closed_until = datetime(2026, 11, 10, tzinfo=UTC)  # closed ahead of time
        BillingCycle.objects.create(start=NOV, end=closed_until, label="2026-11",
                                    status=CycleStatus.CLOSED)
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        assert _rows(project) == [("Main", closed_until, None)]


def test_a_move_before_the_current_assignment_began_is_refused(beta):
    with inside(beta):
        org, main, research = _org()
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        moved_at = datetime(2026, 11, 10, tzinfo=UTC)
        project_move(project=project, billing_account=research, effective_from=moved_at,
                     actor=None, now=NOW)
        at = datetime(2026, 11, 5, tzinfo=UTC)
        with pytest.raises(ValidationError) as refused:
            project_move(project=project, billing_account=main, effective_from=at,
                         actor=None, now=NOW)
        assert refused.value.message_dict == {"effective_from": [MOVE_BEFORE_CURRENT.format(
            when=at.isoformat(), since=moved_at.isoformat())]}


def test_a_later_move_replaces_a_scheduled_one_and_moving_back_cancels_it(beta):
    with inside(beta):
        org, main, research = _org()
        ops = billing_account_create(organization=org, name="Ops", payment_kind="chargeback",
                                     contacts=[], actor=None, now=NOW)
        project = project_create(name="adventure", organization=org, actor=None, now=NOW)
        scheduled = DEC
        project_move(project=project, billing_account=research, effective_from=scheduled,
                     actor=None, now=NOW)
        assert _rows(project) == [("Main", NOV, DEC), ("Research", DEC, None)]
        earlier = datetime(2026, 11, 25, tzinfo=UTC)
        project_move(project=project, billing_account=ops, effective_from=earlier,
                     actor=None, now=NOW)
        assert _rows(project) == [("Main", NOV, earlier), ("Ops", earlier, None)]
        # Schedule again, then cancel by moving to the account in force at that instant.
        project_move(project=project, billing_account=research, effective_from=DEC,
                     actor=None, now=NOW)
        project_move(project=project, billing_account=ops, effective_from=DEC,
                     actor=None, now=NOW)
        assert _rows(project) == [("Main", NOV, earlier), ("Ops", earlier, None)]


def test_assignments_for_period_returns_overlapping_spans_in_one_query(beta):
    with inside(beta):
        org, main, research = _org()
        moved = project_create(name="moved", organization=org, actor=None, now=NOW)
        at = datetime(2026, 11, 15, tzinfo=UTC)
        project_move(project=moved, billing_account=research, effective_from=at, actor=None,
                     now=NOW)
        later = project_create(name="later", organization=org, actor=None,
                               now=datetime(2027, 1, 5, tzinfo=UTC))
        with CaptureQueriesContext(connection) as queries:
            spans = assignments_for_period(period=Period(start=NOV, end=DEC))
        # django-tenants may set the search path first; the read itself is one query.
        assert [q["sql"].split()[0] for q in queries.captured_queries
                if not q["sql"].startswith("SET search_path")] == ["SELECT"]
        assert spans == [
            AssignmentSpan(moved.pk, main.pk, NOV, at),
            AssignmentSpan(moved.pk, research.pk, at, None),
        ]
        assert later.pk not in {s.project_id for s in spans}
        # A span ending exactly at the period's start does not overlap it.
        december = assignments_for_period(period=Period(start=DEC, end=datetime(
            2027, 1, 1, tzinfo=UTC)))
        assert december == [AssignmentSpan(moved.pk, research.pk, at, None)]
