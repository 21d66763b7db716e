from tools.coverage_floor import below_floor, package_totals


def test_a_module_under_the_floor_is_listed_lowest_first():
    # given
    modules = {"helpers/a.py": (10, 9), "helpers/b.py": (10, 7), "localaws/c.py": (4, 1)}
    # when
    low = below_floor(modules, 80.0)
    # then
    assert low == [("localaws/c.py", 25.0), ("helpers/b.py", 70.0)]


def test_a_module_at_the_floor_or_without_statements_passes():
    # given
    modules = {"helpers/a.py": (10, 8), "helpers/__init__.py": (0, 0)}
    # then
    assert below_floor(modules, 80.0) == []


def test_packages_are_totalled_over_their_lines_not_their_modules():
    # given: one large well-covered module and one small poorly covered one
    modules = {"helpers/big.py": (90, 90), "helpers/small.py": (10, 0), "localaws/x.py": (2, 1)}
    # when
    totals = package_totals(modules)
    # then
    assert totals == {"helpers": 90.0, "localaws": 50.0}
