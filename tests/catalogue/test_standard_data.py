"""The data files hold the reference city's full classification: components 6/115, events 6/100, services 4/34."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalogue.models import ClassKind
from catalogue.standard import CatalogueDataError, catalogue_data_read, standard_kinds


@pytest.fixture(scope="module")
def components():
    return catalogue_data_read(kind=ClassKind.COMPONENT)


def test_it_has_the_six_standard_major_component_classes(components):
    assert [(major.code, major.name) for major in components] == [
        ("01", "公用设施"),
        ("02", "道路交通"),
        ("03", "市容环境"),
        ("04", "园林绿化"),
        ("05", "房屋土地"),
        ("06", "其他设施"),
    ]


def test_it_has_115_minor_component_classes_with_unique_two_digit_codes(components):
    full_codes = [minor.full_code(major.code) for major in components for minor in major.minors]

    assert len(full_codes) == 115
    assert len(set(full_codes)) == 115
    assert all(re.fullmatch(r"(0[1-9]|[1-9]\d){2}", code) for code in full_codes)
    for major in components:
        codes = [minor.code for minor in major.minors]
        assert len(codes) == len(set(codes)), major.code


def test_every_class_has_a_chinese_name_and_an_english_name(components):
    for major in components:
        for name, name_en in [(major.name, major.name_en)] + [(m.name, m.name_en) for m in major.minors]:
            assert re.search(r"[\u4e00-\u9fff]", name), name
            assert name_en and name_en.isascii(), name


def test_it_keeps_the_standard_names_at_their_standard_codes(components):
    by_code = {minor.full_code(major.code): minor.name for major in components for minor in major.minors}

    assert by_code["0101"] == "上水井盖"
    assert by_code["0102"] == "污水井盖"
    assert by_code["0103"] == "雨水井盖"
    assert by_code["0104"] == "雨水箅子"
    assert by_code["0107"] == "通讯井盖"
    assert by_code["0201"] == "停车场"
    assert by_code["0203"] == "公交站亭"
    assert by_code["0301"] == "公共厕所"
    assert by_code["0401"] == "古树名木"
    assert by_code["0501"] == "宣传栏"
    assert by_code["0601"] == "重大危险源"


def test_every_kind_has_a_data_file():
    assert standard_kinds() == [ClassKind.COMPONENT, ClassKind.EVENT, ClassKind.SERVICE]


@pytest.mark.parametrize(
    ("kind", "majors", "minors"),
    [(ClassKind.COMPONENT, 6, 115), (ClassKind.EVENT, 6, 100), (ClassKind.SERVICE, 4, 34)],
)
def test_each_kind_has_the_reference_city_s_count_of_classes_with_unique_codes(kind, majors, minors):
    rows = catalogue_data_read(kind=kind)
    full_codes = [minor.full_code(major.code) for major in rows for minor in major.minors]

    assert len(rows) == majors
    assert len(full_codes) == minors
    assert len(set(full_codes)) == minors
    assert len({major.code for major in rows}) == majors


def test_the_whole_catalogue_has_16_major_and_249_minor_classes():
    rows = [major for kind in standard_kinds() for major in catalogue_data_read(kind=kind)]

    assert (len(rows), sum(len(major.minors) for major in rows)) == (16, 249)


def test_the_event_file_has_the_six_standard_major_classes_and_standard_names_at_their_codes():
    events = catalogue_data_read(kind=ClassKind.EVENT)
    by_code = {minor.full_code(major.code): minor.name for major in events for minor in major.minors}

    assert [(major.code, major.name) for major in events] == [
        ("01", "市容环境"),
        ("02", "宣传广告"),
        ("03", "施工管理"),
        ("04", "突发事件"),
        ("05", "街面秩序"),
        ("06", "其他事件"),
    ]
    assert [by_code[code] for code in ("0101", "0102", "0103", "0104", "0105")] == [
        "暴露垃圾",
        "积存垃圾渣土",
        "道路不洁",
        "水域不洁",
        "绿地脏乱",
    ]
    assert (by_code["0201"], by_code["0202"]) == ("非法小广告", "违章张贴悬挂广告牌匾")
    assert (by_code["0301"], by_code["0302"], by_code["0303"]) == ("施工扰民", "工地扬尘", "道路遗撒")
    assert [by_code[code] for code in ("0401", "0402", "0403", "0404")] == [
        "路面塌陷",
        "自来水管破裂",
        "燃气管道破裂",
        "下水道堵塞或破损",
    ]
    assert [by_code[code] for code in ("0501", "0502", "0503", "0504")] == [
        "无照经营游商",
        "流浪乞讨",
        "占道废品收购",
        "店外经营",
    ]


def test_the_service_file_has_four_major_classes_all_marked_local():
    services = catalogue_data_read(kind=ClassKind.SERVICE)

    assert [major.name for major in services] == ["市政公用服务", "便民服务", "社区服务", "咨询投诉"]
    # GB/T 30428.2 does not classify services: they are the reference city's own.
    assert {major.origin for major in services} == {"local"}
    assert {minor.origin for major in services for minor in major.minors} == {"local"}


@pytest.mark.parametrize("kind", [ClassKind.EVENT, ClassKind.SERVICE])
def test_every_event_and_service_class_has_a_chinese_name_and_an_english_name(kind):
    for major in catalogue_data_read(kind=kind):
        for name, name_en in [(major.name, major.name_en)] + [(m.name, m.name_en) for m in major.minors]:
            assert re.search(r"[\u4e00-\u9fff]", name), name
            assert name_en and name_en.isascii(), name


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("0101,重复的井盖,Duplicate,standard", "0101 appears twice"),
        ("0799,孤儿小类,Orphan,local", "without\\) its major class 07"),
        ("0150,,No Chinese name,local", "Chinese name is empty"),
        ("01501,五位编码,Five digits,local", "2 digits \\(major\\) or 4 digits"),
        ("0100,零号小类,Zero minor,local", "2 digits \\(major\\) or 4 digits"),
        ("0150,来源不明,Unknown origin,somewhere", "origin must be one of"),
    ],
)
def test_it_rejects_a_malformed_line_and_names_it(data_copy: Path, bad_line: str, message: str):
    path = data_copy / "components.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, bad_line]) + "\n", encoding="utf-8")

    with pytest.raises(CatalogueDataError, match=message) as excinfo:
        catalogue_data_read(kind=ClassKind.COMPONENT, data_dir=data_copy)

    assert f"components.csv:{len(lines) + 1}" in str(excinfo.value)
