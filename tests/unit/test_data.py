"""The workshop's data: deterministic log rows, the four LADV data sets, e-commerce items."""

from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from helpers.ecommerce_data import ecommerce_items
from helpers.log_rows import DataDirError, LogRow, read_logfile_csv, write_logfile_csv
from helpers.logfile_data import LOGFILE_DATASETS, generate_logfile_rows, logfile_dataset

ORIGINAL_DATA = Path("/work/shared/data/ladv")
EXPECTED = {
    "small1": (500, 1, 500, 0),
    "medium1": (2000, 1, 2000, 0),
    "medium2": (2000, 2001, 4000, 1),
    "stream": (2000, 4001, 6000, 13),
}


def test_same_seed_gives_the_same_rows_and_another_seed_other_rows():
    # given
    kwargs = {"date": "2009-07-21", "start_hour": 6, "span_hours": 4.5}
    # when
    first = generate_logfile_rows(1, 300, seed=7, **kwargs)
    again = generate_logfile_rows(1, 300, seed=7, **kwargs)
    other = generate_logfile_rows(1, 300, seed=8, **kwargs)
    # then
    assert first == again
    assert first != other


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_dataset_has_the_original_size_id_range_and_server_errors(name):
    # given
    count, first_id, last_id, errors = EXPECTED[name]
    # when
    rows = logfile_dataset(name)
    # then
    assert [r.requestid for r in rows] == list(range(first_id, last_id + 1))
    assert len(rows) == count
    assert sum(r.responsecode == 500 for r in rows) == errors
    assert LOGFILE_DATASETS[name].last_id == last_id


def test_medium1_overwrites_the_ids_of_small1_with_other_rows():
    # given
    small, medium = logfile_dataset("small1"), logfile_dataset("medium1")
    # when
    shared_ids = {r.requestid for r in small} & {r.requestid for r in medium}
    # then
    assert shared_ids == set(range(1, 501))
    assert {r.date for r in small}.isdisjoint({r.date for r in medium})


def test_generated_rows_look_like_the_original_log():
    # given
    rows = logfile_dataset("stream")
    # when
    codes = Counter(r.responsecode for r in rows)
    hosts = Counter(r.host for r in rows)
    # then
    assert 0.80 < codes[200] / len(rows) < 0.90
    assert 0.07 < codes[302] / len(rows) < 0.13
    assert {r.timezone for r in rows} == {"GMT-0700"}
    assert Counter(r.method for r in rows)["GET"] >= 1990
    assert hosts.most_common(1)[0][1] > 150, "a few crawlers do much of the traffic"
    assert len(hosts) > 100
    assert all(0 <= r.hourofday <= 23 and r.bytessent >= 0 for r in rows)
    assert all(r.url.startswith("/") for r in rows)


def test_exact_server_error_count_is_honoured_and_checked():
    # given / when
    rows = generate_logfile_rows(10, 50, seed=1, date="2009-07-20", server_errors=5)
    # then
    assert sum(r.responsecode == 500 for r in rows) == 5
    with pytest.raises(ValueError, match="server_errors"):
        generate_logfile_rows(1, 3, seed=1, date="2009-07-20", server_errors=4)


def test_item_has_typed_columns_keys_and_no_servererror_for_a_success():
    # given
    row = next(r for r in logfile_dataset("stream") if r.responsecode == 200)
    # when
    item = row.to_item()
    # then
    assert item["PK"] == f"request#{row.requestid}"
    assert item["GSI_1_PK"] == f"host#{row.host}"
    assert "servererror" not in item
    for name in ("requestid", "hourofday", "responsecode", "bytessent"):
        assert type(item[name]) is int
    assert set(item) == {f.name for f in dataclasses.fields(LogRow)} | {"PK", "GSI_1_PK"}


def test_item_of_a_500_response_carries_the_sparse_servererror_attribute():
    # given
    row = next(r for r in logfile_dataset("stream") if r.responsecode == 500)
    # when
    item = row.to_item()
    # then
    assert item["servererror"] == "5xx"


def test_csv_row_writes_the_hour_with_two_digits_and_parses_back():
    # given
    row = LogRow(4001, "10.0.0.1", "2009-07-21", 6, "GMT-0700", "GET", "/", 200, 12, "ua")
    # when
    values = row.to_csv_row()
    # then
    assert values[3] == "06"
    assert LogRow.from_csv_row(values) == row
    assert LogRow.from_csv_row(values).to_item()["hourofday"] == 6


def test_rows_written_to_csv_read_back_identically_from_a_data_dir(tmp_path):
    # given
    rows = logfile_dataset("medium2")
    write_logfile_csv(rows, tmp_path / "logfile_medium2.csv")
    # when
    loaded = logfile_dataset("medium2", data_dir=tmp_path)
    # then
    assert loaded == rows


@pytest.mark.skipif(not ORIGINAL_DATA.is_dir(), reason="original LADV CSV files not available")
def test_original_stream_csv_has_2000_rows_and_13_server_errors():
    # given / when
    rows = logfile_dataset("stream", data_dir=ORIGINAL_DATA)
    # then
    assert len(rows) == 2000
    assert (rows[0].requestid, rows[-1].requestid) == (4001, 6000)
    assert sum("servererror" in r.to_item() for r in rows) == 13
    assert rows[0].hourofday == 6


@pytest.mark.skipif(not ORIGINAL_DATA.is_dir(), reason="original LADV CSV files not available")
@pytest.mark.parametrize("name", list(EXPECTED))
def test_original_and_generated_datasets_agree_on_ids_and_server_errors(name):
    # given
    original = logfile_dataset(name, data_dir=ORIGINAL_DATA)
    # when
    generated = logfile_dataset(name)
    # then
    assert [r.requestid for r in original] == [r.requestid for r in generated]
    assert sum(r.responsecode == 500 for r in original) == EXPECTED[name][3]


def test_missing_data_dir_raises_a_one_line_error_saying_what_to_change(tmp_path):
    # given
    missing = tmp_path / "nowhere"
    # when
    with pytest.raises(DataDirError) as info:
        logfile_dataset("stream", data_dir=missing)
    # then
    message = str(info.value)
    assert "\n" not in message
    assert str(missing) in message
    assert "data_dir=None" in message
    assert isinstance(info.value, ValueError)


def test_missing_file_in_an_existing_data_dir_names_the_file(tmp_path):
    # given / when
    with pytest.raises(DataDirError, match=r"logfile_small1\.csv"):
        logfile_dataset("small1", data_dir=tmp_path)


def test_malformed_csv_line_is_reported_with_its_line_number(tmp_path):
    # given
    path = tmp_path / "logfile_stream.csv"
    path.write_text("4001,1.2.3.4,2009-07-21,06,GMT-0700,GET,/,200,5,ua\n4002,too,short\n")
    # when / then
    with pytest.raises(DataDirError, match="line 2"):
        read_logfile_csv(path)


def test_unknown_dataset_name_lists_the_valid_ones():
    # given / when / then
    with pytest.raises(ValueError, match="'small1', 'medium1', 'medium2', 'stream'"):
        logfile_dataset("large")


def test_ecommerce_items_are_deterministic_and_follow_the_single_table_keys():
    # given / when
    items = ecommerce_items(seed=3)
    # then
    assert items == ecommerce_items(seed=3)
    assert items != ecommerce_items(seed=4)
    assert 30 <= len(items) <= 60
    keys = [(i["PK"], i["SK"]) for i in items]
    assert len(set(keys)) == len(keys)
    kinds = Counter((pk.split("#")[0], sk.split("#")[0]) for pk, sk in keys)
    assert kinds[("USER", "PROFILE")] >= 3
    assert kinds[("PRODUCT", "DETAILS")] >= 3
    assert kinds[("ORDER", "DETAILS")] >= 3
    assert kinds[("ORDER", "ITEM")] >= kinds[("ORDER", "DETAILS")]


def test_ecommerce_orders_index_by_user_and_status_and_products_by_category():
    # given
    items = ecommerce_items()
    orders = [i for i in items if i["PK"].startswith("ORDER#") and i["SK"] == "DETAILS"]
    products = [i for i in items if i["PK"].startswith("PRODUCT#")]
    # when / then
    for order in orders:
        assert order["GSI1PK"] == f"USER#{order['user_id']}"
        assert order["GSI2PK"] == f"STATUS#{order['status']}"
        assert order["status"] in {"pending", "processing", "shipped"}
        lines = [i for i in items if i["PK"] == order["PK"] and i["SK"].startswith("ITEM#")]
        assert order["total"] == sum(line["total_price"] for line in lines)
    for product in products:
        assert isinstance(product["price"], Decimal)
        assert product["GSI1PK"] == f"CATEGORY#{product['category']}"
        assert product["GSI2PK"].startswith("PRICE#")
        assert product["status"] in {"active", "out_of_stock"}


def test_ecommerce_items_hold_no_floats():
    # given
    def numbers(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from numbers(v)
        elif not isinstance(value, str):
            yield value

    # when
    found = {type(n) for item in ecommerce_items() for n in numbers(item)}
    # then
    assert found <= {int, Decimal}
