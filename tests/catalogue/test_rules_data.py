"""The rules files: every minor class resolves to criteria, a department kind, a radius and fifteen time limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalogue.models import ClassKind, ResponsibleKind, Stage, Urgency
from catalogue.standard import CatalogueDataError, ClassRules, LimitValue, catalogue_rules_read, standard_kinds
from workcalendar.units import CALENDAR_UNITS, TimeUnit

ALL_PAIRS = {(urgency, stage) for urgency in Urgency.values for stage in Stage.values}


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, ClassRules]]:
    return {kind: catalogue_rules_read(kind=kind) for kind in standard_kinds()}


def every_class(rules: dict[str, dict[str, ClassRules]]) -> list[tuple[str, str, ClassRules]]:
    return [(kind, code, rule) for kind, by_code in rules.items() for code, rule in by_code.items()]


def test_every_one_of_the_249_classes_has_rules(rules):
    assert {kind: len(by_code) for kind, by_code in rules.items()} == {
        ClassKind.COMPONENT: 115,
        ClassKind.EVENT: 100,
        ClassKind.SERVICE: 34,
    }


def test_every_class_has_chinese_criteria_with_no_placeholder_left(rules):
    for kind, code, rule in every_class(rules):
        for text in (rule.registration_criteria, rule.closure_criteria):
            assert re.search(r"[\u4e00-\u9fff]{4}", text), (kind, code)
            assert "{" not in text and "}" not in text, (kind, code)


def test_every_class_has_a_department_kind_and_a_radius(rules):
    for kind, code, rule in every_class(rules):
        assert rule.default_responsible_kind in ResponsibleKind.values, (kind, code)
        assert 0 <= rule.duplicate_radius_m <= 1000, (kind, code)


def test_every_class_has_a_limit_for_every_urgency_and_stage_and_emergencies_run_on_calendar_time(rules):
    for kind, code, rule in every_class(rules):
        assert set(rule.time_limits) == ALL_PAIRS, (kind, code)
        for (urgency, _stage), limit in rule.time_limits.items():
            assert limit.amount > 0
            assert limit.unit in TimeUnit.values
            if urgency == Urgency.EMERGENCY:
                assert limit.unit in CALENDAR_UNITS, (kind, code)


def test_the_shared_stages_take_one_or_two_working_hours_in_normal_time(rules):
    leaflets = rules[ClassKind.EVENT]["0201"].time_limits

    assert leaflets[(Urgency.NORMAL, Stage.VERIFY)] == LimitValue(2, TimeUnit.WORKING_HOURS)
    assert leaflets[(Urgency.NORMAL, Stage.REGISTER)] == LimitValue(1, TimeUnit.WORKING_HOURS)
    assert leaflets[(Urgency.NORMAL, Stage.DISPATCH)] == LimitValue(1, TimeUnit.WORKING_HOURS)
    assert leaflets[(Urgency.NORMAL, Stage.CHECK)] == LimitValue(2, TimeUnit.WORKING_HOURS)
    assert leaflets[(Urgency.EMERGENCY, Stage.VERIFY)] == LimitValue(30, TimeUnit.CALENDAR_MINUTES)


def test_handling_limits_follow_the_class(rules):
    events, components = rules[ClassKind.EVENT], rules[ClassKind.COMPONENT]

    assert events["0305"].time_limits[(Urgency.NORMAL, Stage.HANDLE)] == LimitValue(15, TimeUnit.WORKING_DAYS)
    assert events["0201"].time_limits[(Urgency.NORMAL, Stage.HANDLE)] == LimitValue(4, TimeUnit.WORKING_HOURS)
    assert components["0101"].time_limits[(Urgency.URGENT, Stage.HANDLE)] == LimitValue(2, TimeUnit.CALENDAR_HOURS)
    # a class without its own limits takes its major class's: 0102 积存垃圾渣土 from 01 市容环境
    assert events["0102"].time_limits[(Urgency.NORMAL, Stage.HANDLE)] == LimitValue(1, TimeUnit.WORKING_DAYS)


def test_an_emergency_is_verified_and_checked_on_site_within_30_calendar_minutes(rules):
    # Verification and check take 30 minutes to 2 hours: the lower bound when every minute counts, for
    # every class, the 突发事件 ones (0401 road collapse, 0403 gas leak) included.
    for kind, code, rule in every_class(rules):
        for stage in (Stage.VERIFY, Stage.CHECK):
            assert rule.time_limits[(Urgency.EMERGENCY, stage)] == LimitValue(30, TimeUnit.CALENDAR_MINUTES), (
                kind,
                code,
            )
    gas_leak = rules[ClassKind.EVENT]["0403"].time_limits
    assert gas_leak[(Urgency.EMERGENCY, Stage.DISPATCH)] == LimitValue(1, TimeUnit.CALENDAR_HOURS)
    assert gas_leak[(Urgency.URGENT, Stage.VERIFY)] == LimitValue(1, TimeUnit.WORKING_HOURS)


def test_a_class_may_set_its_emergency_handling_in_calendar_minutes(data_copy: Path):
    put_line(data_copy, "events.csv", "0102,,,,,,45 calendar_minutes,,")

    events = catalogue_rules_read(kind=ClassKind.EVENT, data_dir=data_copy)

    assert events["0102"].time_limits[(Urgency.EMERGENCY, Stage.HANDLE)] == LimitValue(45, TimeUnit.CALENDAR_MINUTES)


def test_quick_fixes_may_be_self_handled_and_manhole_covers_may_not(rules):
    events, components = rules[ClassKind.EVENT], rules[ClassKind.COMPONENT]

    assert events["0201"].self_handle_allowed  # 非法小广告
    assert events["0101"].self_handle_allowed  # 暴露垃圾
    assert not events["0305"].self_handle_allowed  # 违章建筑
    assert not events["0401"].self_handle_allowed  # 路面塌陷
    assert not any(components[code].self_handle_allowed for code in ("0101", "0102", "0103", "0111", "0114"))


def test_a_class_without_its_own_criteria_names_itself_in_its_major_class_template(rules):
    kiosk = rules[ClassKind.COMPONENT]["0122"]  # 电话亭, covered by the 01 公用设施 row only

    assert kiosk.registration_criteria.startswith("电话亭缺失")
    assert kiosk.default_responsible_kind == ResponsibleKind.TELECOM


def put_line(data_dir: Path, file_name: str, line: str) -> int:
    """Replace the row of 0102 with `line` if it is a 0102 row, else append it; returns its line number."""
    path = data_dir / "rules" / file_name
    lines = path.read_text(encoding="utf-8").splitlines()
    if line.startswith("0102,"):
        index = next(i for i, old in enumerate(lines) if old.startswith("0102,"))
        lines[index] = line
    else:
        lines.append(line)
        index = len(lines) - 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("0199,,,,,,,不存在,", "minor class 0199 is not in events.csv"),
        ("0101,,,,,,,重复,", "minor class 0101 appears twice"),
        ("07,other,no,10,1 working_days,4 working_hours,2 calendar_hours,甲,乙", "major class 07 is not in events.csv"),
        ("0102,mayor,,,,,,,", "responsible must be one of"),
        ("0102,,maybe,,,,,,", "self_handle must be yes or no"),
        ("0102,,,-5,,,,,", "radius_m must be a whole number"),
        ("0102,,,,3 fortnights,,,,", "a limit is '<amount> <unit>'"),
        ("0102,,,,0 working_days,,,,", "a limit is '<amount> <unit>'"),
        ("0102,,,,,,4 working_hours,,", "emergency limits are counted in calendar_hours"),
        ("0102,,,,,,30 working_minutes,,", "emergency limits are counted in calendar_hours or calendar_minutes"),
        ("0102,,,,30 minutes,,,,", "a limit is '<amount> <unit>'"),
        ("0102,,,,,,,{city}的{name},", "may only use {name}"),
    ],
)
def test_it_rejects_a_malformed_rules_line_and_names_it(data_copy: Path, bad_line: str, message: str):
    line_no = put_line(data_copy, "events.csv", bad_line)

    with pytest.raises(CatalogueDataError, match=re.escape(message)) as excinfo:
        catalogue_rules_read(kind=ClassKind.EVENT, data_dir=data_copy)

    assert f"events.csv:{line_no}" in str(excinfo.value)


def test_a_major_class_row_must_fill_every_column(data_copy: Path):
    path = data_copy / "rules" / "services.csv"
    lines = [
        line.replace("04,other,no,0,", "04,other,no,,") if line.startswith("04,") else line
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(CatalogueDataError, match="a major class row fills every column; empty: radius_m"):
        catalogue_rules_read(kind=ClassKind.SERVICE, data_dir=data_copy)


def test_every_major_class_needs_a_rules_row(data_copy: Path):
    path = data_copy / "rules" / "services.csv"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("03,")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(CatalogueDataError, match="no row for major class 03"):
        catalogue_rules_read(kind=ClassKind.SERVICE, data_dir=data_copy)


def test_the_stage_file_refuses_emergency_limits_in_working_time(data_copy: Path):
    path = data_copy / "rules" / "stages.csv"
    text = path.read_text(encoding="utf-8").replace("emergency,30 calendar_minutes", "emergency,30 working_minutes")
    path.write_text(text, encoding="utf-8")

    with pytest.raises(CatalogueDataError, match=r"stages.csv:4 \(emergency\) verify: emergency limits"):
        catalogue_rules_read(kind=ClassKind.EVENT, data_dir=data_copy)
