import pytest

from supernet.space import ArchError, Space


def test_search_space_makes_sites_at_widest():
    space = Space(widest=0.5)
    dim = space.width("a.width", 32)
    assert dim.widest == 16 and dim.site.options == (4, 8, 12, 16)
    assert space.width("a.width", 32).site is dim.site  # shared by name
    keep = space.keep("a.keep")
    assert keep.site.options == (False, True) and set(space.sites) == {"a.width", "a.keep"}


def test_fixed_space_reads_and_checks_choices():
    space = Space({"a.width": 8, "a.keep": False})
    assert space.width("a.width", 16).widest == 8
    assert space.keep("a.keep").present is False
    with pytest.raises(ArchError, match="missing choice 'b.width'"):
        space.width("b.width", 16)
    with pytest.raises(ArchError, match="'a.width': 8 is not one of its options"):
        Space({"a.width": 8}).width("a.width", 64)


def test_at_least_one_group():
    space = Space({"x": False, "y": False})
    space.keep("x"), space.keep("y")
    with pytest.raises(ArchError, match="at least one branch"):
        space.at_least_one(["x", "y"])


@pytest.mark.parametrize("options", [{"widest": 0}, {"widest": "1"}, {"width_fractions": [0.0, 1.0]},
                                     {"width_fractions": []}])
def test_bad_space_options(options):
    with pytest.raises(ArchError, match="space option"):
        Space(**options)
